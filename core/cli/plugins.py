"""``kade plugins``: installed platform plugins, and which tenants may use them."""

from __future__ import annotations

import typer

from kade.cli.common import JsonOpt, TenantOpt, err, load_settings, out, print_json, row, say, session_for, table

app: typer.Typer = typer.Typer(help="Platform plugins.", no_args_is_help=True)


def _tenants_by_platform() -> dict[str, list[str]] | None:
    """Tenants per platform, or None when there is no usable database yet (before ``db upgrade``)."""
    from kade.errors import KadeError
    from kade.tenants import tenants_by_platform

    try:
        with session_for() as (_, session):
            return tenants_by_platform(session)
    except KadeError:
        return None


@app.command("list")
def plugins_list(as_json: JsonOpt = False) -> None:
    """Installed plugins: versions, platforms, capabilities and the tenants using them.

    Platforms and capabilities need no database; tenants are shown when there is one."""
    from kade.manager import make_plugin_manager

    settings = load_settings()
    pm = make_plugin_manager(strict=settings.plugins_strict, disabled=settings.disabled())
    users = _tenants_by_platform()
    items = []
    for info in pm.plugin_infos():
        for name in info.platforms or [""]:
            item: dict[str, object] = {"plugin": info.name, "package": info.distribution, "version": info.version,
                                       "platform": name or None, "auth_methods": [], "capabilities": {}}
            if name:
                spec = pm.platform(name).spec
                c = spec.capabilities
                item["auth_methods"] = list(spec.auth_methods)
                item["capabilities"] = {"partial_shipments": c.partial_shipments, "tracking": c.tracking,
                                        "stock_batch_size": c.stock_batch_size, "webhooks": c.webhooks}
            if users is not None:
                item["tenants"] = sorted(users.get(name, []))
            items.append(item)
    failures = [{"plugin": f.name, "package": f.distribution, "error": str(f.error)} for f in pm.failures]
    if as_json:
        print_json({"plugins": items, "not_loaded": failures})
        return
    columns = ["platform", "plugin", "version", "auth", "capabilities"] + (["tenants"] if users is not None else [])
    t = table("Plugins", *columns)
    for item in items:
        caps = item["capabilities"]
        assert isinstance(caps, dict)
        flags = [k for k in ("partial_shipments", "webhooks") if caps.get(k)]
        cap_text = (" ".join([*flags, f"tracking={caps['tracking']}", f"batch={caps['stock_batch_size']}"])
                    if caps else "")
        auth = item["auth_methods"]
        assert isinstance(auth, list)
        cells = [item["platform"] or "-", item["plugin"], item["version"] or "-", ", ".join(auth), cap_text]
        if users is not None:
            tenants = item["tenants"]
            assert isinstance(tenants, list)
            cells.append(", ".join(tenants))
        row(t, *cells)
    out.print(t)
    if users is None:
        say("tenants: no database yet (run `kade db upgrade`)")
    for failure in failures:
        err.print(f"not loaded: {failure['plugin']} ({failure['package'] or '?'}): {failure['error']}",
                  markup=False, highlight=False, soft_wrap=True)


@app.command("enable")
def plugins_enable(platform: str, tenant: TenantOpt) -> None:
    """Let a tenant connect stores of PLATFORM."""
    from kade.tenants import enable_platform, get_tenant

    with session_for() as (kade, session):
        changed = enable_platform(session, kade.pm, get_tenant(session, tenant), platform)
        say(f"{platform} {'enabled' if changed else 'was already enabled'} for {tenant}")


@app.command("disable")
def plugins_disable(platform: str, tenant: TenantOpt) -> None:
    """Withdraw PLATFORM from a tenant."""
    from kade.tenants import disable_platform, get_tenant

    with session_for() as (kade, session):
        kade.pm.platform(platform)
        changed = disable_platform(session, get_tenant(session, tenant), platform)
        say(f"{platform} {'disabled' if changed else 'was not enabled'} for {tenant}")
