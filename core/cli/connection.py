"""``kade connection``: store connections, from adding to activating, testing and migrating."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kade.cli.common import Exit2, JsonOpt, TenantOpt, kade_for, out, print_json, row, say, session_for, table

app: typer.Typer = typer.Typer(help="Store connections.", no_args_is_help=True)


def _settings_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    t = table(title, "setting", "value", "meaning")
    for cells in rows:
        row(t, *cells)
    out.print(t)


@app.command("add")
def connection_add(
    platform: str,
    name: str,
    tenant: TenantOpt,
    url: Annotated[str, typer.Option("--url", help="the store's base URL")],
    credentials: Annotated[Path, typer.Option("--credentials", help="JSON file with the credentials")],
    auth: Annotated[str | None, typer.Option("--auth", help="auth method (default: the platform's)")] = None,
    setting: Annotated[list[str] | None, typer.Option("--set", help="NAME=VALUE, repeatable")] = None,
    replaces: Annotated[str | None, typer.Option(help="connection this one replaces (switching store)")] = None,
) -> None:
    """Connect a store. It imports products and orders only until stock and shipments are enabled."""
    from kade.connections import add_connection, parse_setting_args, read_credentials_file
    from kade.tenants import get_tenant

    settings = parse_setting_args(setting or [])
    creds = read_credentials_file(credentials)
    with session_for() as (kade, session):
        conn = add_connection(
            session, kade.pm, kade.vault, get_tenant(session, tenant), platform_name=platform, name=name,
            base_url=url, credentials=creds, auth_method=auth, settings=settings, replaces=replaces,
        )
        say(f"connection {conn.name} ({conn.platform}) added in status {conn.status}: it imports products and "
            f"orders; enable stock/shipments with `kade connection settings {conn.name} send_stock on -t {tenant}`, "
            f"then `kade connection activate {conn.name} -t {tenant}`")


@app.command("list")
def connection_list(tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
                    as_json: JsonOpt = False) -> None:
    """List connections."""
    from kade.connections import list_connections
    from kade.listings import tenant_slugs
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        scope = get_tenant(session, tenant) if tenant else None
        slugs = tenant_slugs(session)
        items = [{"id": c.id, "tenant": slugs.get(c.tenant_id, "?"), "name": c.name, "platform": c.platform,
                  "status": c.status, "auth": c.auth_method, "send_stock": c.send_stock,
                  "send_shipments": c.send_shipments} for c in list_connections(session, scope)]
    if as_json:
        print_json({"connections": items})
        return
    t = table("Connections", "id", "tenant", "name", "platform", "status", "auth", "stock", "shipments")
    for i in items:
        row(t, i["id"], i["tenant"], i["name"], i["platform"], i["status"], i["auth"],
            "on" if i["send_stock"] else "off", "on" if i["send_shipments"] else "off")
    out.print(t)


@app.command("show")
def connection_show(name: str, tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Show a connection: settings (never credentials) and its status history."""
    from kade.cli.secrets import webhook_url
    from kade.connections import get_connection, settings_summary
    from kade.listings import status_history
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        hook = webhook_url(kade, conn) if kade.pm.platform(conn.platform).spec.capabilities.webhooks else None
        summary = settings_summary(kade.pm, conn)
        history = [{"at": h.at, "from": h.from_status, "to": h.to_status, "actor": h.actor, "reason": h.reason}
                   for h in status_history(session, conn)]
        doc = {"id": conn.id, "name": conn.name, "platform": conn.platform, "status": conn.status,
               "webhook_url": hook,
               "settings": [{"setting": k, "value": v, "meaning": m} for k, v, m in summary],
               "history": history}
    if as_json:
        print_json(doc)
        return
    say(f"{doc['name']} ({doc['platform']}) — status {doc['status']}")
    if hook:
        say(f"webhook URL: {hook}")
    _settings_table("Settings", summary)
    h = table("Status history", "at", "from", "to", "actor", "reason")
    for change in history:
        row(h, change["at"], change["from"] or "-", change["to"], change["actor"], change["reason"])
    out.print(h)


@app.command("settings")
def connection_settings(
    name: str,
    tenant: TenantOpt,
    key: Annotated[str | None, typer.Argument(help="setting to change")] = None,
    value: Annotated[str | None, typer.Argument(help="new value")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show settings, or change one: `kade connection settings NAME send_stock on -t TENANT`."""
    from kade.connections import get_connection, settings_summary, update_setting
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        if key is not None:
            if value is None:
                raise Exit2(f"give a value for {key}")
            new = update_setting(session, kade.pm, conn, key, value, vault=kade.vault)
            say(f"{conn.name}: {key} = {new}")
            return
        summary = settings_summary(kade.pm, conn)
    if as_json:
        print_json({"settings": [{"setting": k, "value": v, "meaning": m} for k, v, m in summary]})
        return
    _settings_table(f"Settings of {name}", summary)


@app.command("activate")
def connection_activate(
    name: str,
    tenant: TenantOpt,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Show the settings summary, then activate the connection."""
    from kade.connections import activate, get_connection, settings_summary
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        _settings_table(f"About to activate {conn.name}", settings_summary(kade.pm, conn))
        if not yes and not typer.confirm("Activate with these settings?", default=False):
            raise Exit2("activation cancelled; nothing changed")
        changed = activate(session, conn)
        say(f"{conn.name} is {'now' if changed else 'already'} active")


@app.command("pause")
def connection_pause(
    name: str,
    tenant: TenantOpt,
    reason: Annotated[str, typer.Option(help="why (kept in the audit trail)")] = "paused by operator",
) -> None:
    """Pause a connection: no jobs run for it; actions wait."""
    from kade.connections import get_connection, pause
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        changed = pause(session, conn, reason=reason)
        say(f"{conn.name} is {'now' if changed else 'already'} paused")


@app.command("test")
def connection_test(name: str, tenant: TenantOpt) -> None:
    """Make one authenticated call to the store."""
    from kade.connections import get_connection
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        result = kade.pm.platform(conn.platform).check_connection(kade.context(conn))
        say(f"{conn.name}: {'ok' if result.ok else 'FAILED'} {result.message}")
        if not result.ok:
            raise typer.Exit(1)


@app.command("migrate")
def connection_migrate(
    name: str,
    tenant: TenantOpt,
    auth: Annotated[str, typer.Option("--auth", help="the new auth method")],
    credentials: Annotated[Path, typer.Option("--credentials", help="JSON file with the new credentials")],
) -> None:
    """Move a connection to another login method; verified live before the switch."""
    from kade.connections import connection_id, read_credentials_file
    from kade.login_migration import migrate

    creds = read_credentials_file(credentials)
    with kade_for() as kade:
        result = migrate(kade, connection_id(kade.db, tenant, name), auth, creds, actor="cli")
    say(f"{name} now logs in with {result.auth_method}")
