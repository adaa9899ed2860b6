"""Connecting a store: platform → credentials (tested live) → settings → summary → activate (R5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kade.connections import SWITCHES, activate, setting_specs, settings_summary, update_setting
from kade.console.jobs import Jobs
from kade.console.web import Ctx, Refused, checked_form, current, redirect
from kade.errors import UserError
from kade.manager import Platform
from kade.onboarding import add_tested_connection
from kade.operators import visible_tenants
from kade.tenants import enabled_platforms
from kade.types import SettingSpec

router = APIRouter()


def _platform(ctx: Ctx, name: str) -> Platform:
    if name not in ctx.kade.pm.platforms():
        raise Refused(404, f"no platform {name!r} is installed")
    return ctx.kade.pm.platform(name)


def _choices(ctx: Ctx) -> list[tuple[str, list[Platform]]]:
    """(tenant slug, platforms enabled for it) for every tenant the operator sees."""
    with ctx.session() as session:
        return [(t.slug, [ctx.kade.pm.platform(p) for p in sorted(enabled_platforms(session, t))
                          if p in ctx.kade.pm.platforms()])
                for t in visible_tenants(session, ctx.who)]


@router.get("/connect", response_class=HTMLResponse)
def choose(ctx: Ctx = Depends(current)) -> HTMLResponse:
    return ctx.render("connect_platform.html", choices=_choices(ctx), step=1)


def _credentials_page(ctx: Ctx, tenant: str, platform: Platform, auth: str, *, values: dict[str, str],
                      error: str | None = None, status: int = 200) -> HTMLResponse:
    if auth not in platform.spec.auth_methods:
        raise Refused(404, f"{platform.name} has no auth method {auth!r}")
    required = [s for s in platform.spec.settings if s.required]
    return ctx.render("connect_credentials.html", status=status, step=2, tenant=tenant, platform=platform,
                      auth=auth, fields=platform.spec.credential_fields.get(auth, ()), required=required,
                      values=values, error=error)


@router.get("/connect/{tenant}/{platform_name}", response_class=HTMLResponse)
def credentials_form(tenant: str, platform_name: str, auth: str = "", ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        ctx.tenant(session, tenant)
    platform = _platform(ctx, platform_name)
    return _credentials_page(ctx, tenant, platform, auth or platform.spec.default_auth_method, values={})


@router.post("/connect/{tenant}/{platform_name}", response_model=None)
async def credentials_submit(tenant: str, platform_name: str, ctx: Ctx = Depends(current)) -> Response:
    form = await checked_form(ctx)
    with ctx.session() as session:
        ctx.tenant(session, tenant)
    platform = _platform(ctx, platform_name)
    auth = form.get("auth_method", platform.spec.default_auth_method)
    fields = platform.spec.credential_fields.get(auth, ())
    credentials = {f: form.get(f"cred_{f}", "") for f in fields}
    settings = {s.name: form[f"set_{s.name}"] for s in platform.spec.settings
                if s.required and form.get(f"set_{s.name}")}
    kept = {"name": form.get("name", ""), "base_url": form.get("base_url", ""),
            **{f"set_{k}": v for k, v in settings.items() if not setting_specs(platform)[k].secret}}
    try:
        connection_id = await run_in_threadpool(
            add_tested_connection, ctx.kade, tenant_slug=tenant, platform_name=platform.name,
            name=form.get("name", "").strip(), base_url=form.get("base_url", "").strip(), auth_method=auth,
            credentials=credentials, settings=settings, actor=ctx.actor)
    except UserError as exc:
        return _credentials_page(ctx, tenant, platform, auth, values=kept, error=str(exc), status=422)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/connections/{connection_id}/setup")


def _editable(platform: Platform) -> list[SettingSpec]:
    switches = [SettingSpec(name=n, type="bool", default=False,
                            description="push warehouse stock to the store" if n == "send_stock"
                            else "report shipments and tracking to the store") for n in SWITCHES]
    return switches + list(setting_specs(platform).values())


@router.get("/connections/{connection_id}/setup", response_class=HTMLResponse)
def setup_form(connection_id: int, ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        conn = ctx.connection(session, connection_id)
    platform = ctx.kade.pm.platform(conn.platform)
    current_values: dict[str, Any] = {**conn.settings, "send_stock": conn.send_stock,
                                      "send_shipments": conn.send_shipments}
    return ctx.render("connect_settings.html", step=3, conn=conn, specs=_editable(platform), values=current_values)


@router.post("/connections/{connection_id}/setup", response_model=None)
async def setup_submit(connection_id: int, ctx: Ctx = Depends(current)) -> Response:
    form = await checked_form(ctx)
    try:
        with ctx.transaction() as session:
            conn = ctx.connection(session, connection_id)
            platform = ctx.kade.pm.platform(conn.platform)
            for spec in _editable(platform):
                key = f"set_{spec.name}"
                if spec.type == "bool":
                    raw = "on" if form.get(key) else "off"
                elif key not in form or (spec.secret and not form[key]):
                    continue  # an empty secret field keeps the stored secret
                else:
                    raw = form[key]
                    if raw == "" and spec.default is None and spec.type == "int":
                        continue
                was = conn.send_stock if spec.name == "send_stock" else (
                    conn.send_shipments if spec.name == "send_shipments" else conn.settings.get(spec.name))
                if spec.type != "bool" and str(was if was is not None else "") == raw:
                    continue
                if spec.type == "bool" and bool(was if was is not None else spec.default) == (raw == "on"):
                    continue
                update_setting(session, ctx.kade.pm, conn, spec.name, raw, actor=ctx.actor, vault=ctx.kade.vault)
    except UserError as exc:
        with ctx.session() as session:
            conn = ctx.connection(session, connection_id)
        return ctx.render("connect_settings.html", status=422, step=3, conn=conn,
                          specs=_editable(ctx.kade.pm.platform(conn.platform)),
                          values={**conn.settings, "send_stock": conn.send_stock,
                                  "send_shipments": conn.send_shipments}, error=str(exc))
    return redirect(f"{ctx.request.scope.get('root_path', '')}/connections/{connection_id}/summary")


def what_happens(conn_settings: dict[str, Any], send_stock: bool, send_shipments: bool) -> list[str]:
    """The plain-language consequences shown before activation (rule R5)."""
    steps = ["Kade links the store's products to warehouse products by "
             + ("barcode, then product code" if conn_settings.get("product_match") == "ean_first"
                else "product code, then barcode")
             + (", creating warehouse products for unknown ones." if conn_settings.get("import_products", True)
                else "; unknown products are not created (import is off).")]
    steps.append("Orders are imported from the store and keep arriving (polls and webhooks).")
    steps.append("All warehouse stock is pushed to the store once, then every change." if send_stock
                 else "Stock is NOT sent to the store (send_stock is off).")
    steps.append("Shipments and tracking codes are reported to the store." if send_shipments
                 else "Shipments are NOT reported to the store (send_shipments is off).")
    return steps


@router.get("/connections/{connection_id}/summary", response_class=HTMLResponse)
def summary(connection_id: int, ctx: Ctx = Depends(current)) -> HTMLResponse:
    with ctx.session() as session:
        conn = ctx.connection(session, connection_id)
    return ctx.render("connect_summary.html", step=4, conn=conn, rows=settings_summary(ctx.kade.pm, conn),
                      happens=what_happens(conn.settings, conn.send_stock, conn.send_shipments))


@router.post("/connections/{connection_id}/activate", response_model=None)
async def activate_submit(connection_id: int, ctx: Ctx = Depends(current)) -> Response:
    await checked_form(ctx)
    with ctx.transaction() as session:
        conn = ctx.connection(session, connection_id)
        activate(session, conn, actor=ctx.actor)
        tenant_id = conn.tenant_id
    jobs: Jobs = ctx.request.app.state.jobs
    job = first_link(ctx, jobs, tenant_id, connection_id)
    return redirect(f"{ctx.request.scope.get('root_path', '')}/jobs/{job.id}")


def first_link(ctx: Ctx, jobs: Jobs, tenant_id: int, connection_id: int) -> Any:
    """Link the store's products, then import its orders: what follows an activation."""
    from kade.catalog import link_store_products
    from kade.ingest import import_orders

    def link() -> str:
        s = link_store_products(ctx.kade, connection_id)
        return f"{s.linked} linked ({s.created} created in the warehouse), {s.unmatched} without a match"

    def orders() -> str:
        s = import_orders(ctx.kade, connection_id, full=True)
        return f"{s.created} new, {s.updated} changed, {s.quarantined} quarantined"

    return jobs.start("First product link and order import", tenant_id, connection_id,
                      [("products linked", link), ("orders imported", orders)])
