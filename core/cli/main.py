"""The ``kade`` command line (Typer + Rich).

Every user error is one line on stderr with exit code 2 — never a traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, col, select

from kade import __version__
from kade.app import Kade
from kade.cli.plugin import plugin_app
from kade.config import Settings
from kade.errors import KadeError
from kade.logs import configure_logging, redact_text, uvicorn_log_config

app = typer.Typer(help="Kade: the integration hub between your warehouse and your stores.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (webshops / fulfilment customers).", no_args_is_help=True)
plugins_app = typer.Typer(help="Platform plugins.", no_args_is_help=True)
connection_app = typer.Typer(help="Store connections.", no_args_is_help=True)
product_app = typer.Typer(help="Warehouse products.", no_args_is_help=True)
stock_app = typer.Typer(help="Warehouse stock.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(plugins_app, name="plugins")
app.add_typer(connection_app, name="connection")
app.add_typer(product_app, name="product")
app.add_typer(stock_app, name="stock")

out = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="tenant name")]


class Exit2(Exception):
    """A user error already reduced to one line."""


def _show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    err.print(f"kade: warning: {message}", markup=False, highlight=False, soft_wrap=True)


def make_kade(*, check_schema: bool = True, log_level: str | None = None) -> Kade:
    settings = Settings()
    # Interactive commands print their own results; the event log lines are for workers.
    level = log_level or (settings.log_level if "KADE_LOG_LEVEL" in os.environ else "WARNING")
    configure_logging(settings.log_format, level)
    warnings.showwarning = _show_warning
    kade = Kade(settings)
    if check_schema:
        kade.check()  # the schema, and the secret key against the database's key check
    return kade


@contextmanager
def session_for(*, check_schema: bool = True) -> Iterator[tuple[Kade, Session]]:
    kade = make_kade(check_schema=check_schema)
    try:
        with kade.db.transaction() as session:
            yield kade, session
    finally:
        kade.close()


def table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column)
    return t


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="show the version and exit")] = False,
) -> None:
    if version:
        out.print(f"kade {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(2)


# --------------------------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version of Kade."""
    from kade.secrets import store_key_check

    kade = make_kade(check_schema=False)
    try:
        kade.db.upgrade()
        # the embedded mode's key is made (and announced) here, once; the key check is stored
        with kade.db.transaction() as session:
            store_key_check(session, kade.vault)
        out.print(f"database at the newest schema ({kade.db.engine.url.render_as_string(hide_password=True)})")
    finally:
        kade.close()


@db_app.command("status")
def db_status() -> None:
    """Show the schema revision of the database."""
    from kade.db import current_revision, head_revision

    kade = make_kade(check_schema=False)
    try:
        current = current_revision(kade.db.engine)
        out.print(f"database: {kade.db.engine.url.render_as_string(hide_password=True)}")
        out.print(f"revision: {current or 'none'} (newest: {head_revision()})")
    finally:
        kade.close()


# ------------------------------------------------------------------------------------------ tenant


@tenant_app.command("add")
def tenant_add(slug: str, name: Annotated[str | None, typer.Option(help="display name")] = None) -> None:
    """Add a tenant."""
    from kade.tenants import add_tenant

    with session_for() as (_, session):
        tenant = add_tenant(session, slug, name)
        out.print(f"tenant {tenant.slug} added")


@tenant_app.command("list")
def tenant_list() -> None:
    """List tenants."""
    from kade.models import Connection
    from kade.tenants import enabled_platforms, list_tenants

    with session_for() as (_, session):
        t = table("Tenants", "tenant", "name", "platforms", "connections")
        for tenant in list_tenants(session):
            count = len(session.exec(select(Connection.id).where(Connection.tenant_id == tenant.id)).all())
            t.add_row(tenant.slug, tenant.name, ", ".join(sorted(enabled_platforms(session, tenant))), str(count))
        out.print(t)


# ----------------------------------------------------------------------------------------- plugins


@plugins_app.command("list")
def plugins_list() -> None:
    """Installed plugins: versions, platforms, capabilities and the tenants using them."""
    from kade.tenants import tenants_by_platform

    with session_for() as (kade, session):
        users = tenants_by_platform(session)
        t = table("Plugins", "plugin", "package", "version", "platform", "auth methods", "capabilities", "tenants")
        for info in kade.pm.plugin_infos():
            for name in info.platforms or [""]:
                caps = ""
                auth = ""
                if name:
                    spec = kade.pm.platform(name).spec
                    c = spec.capabilities
                    caps = (
                        f"partial shipments: {'yes' if c.partial_shipments else 'no'}; tracking: {c.tracking}; "
                        f"stock batch: {c.stock_batch_size}; webhooks: {'yes' if c.webhooks else 'no'}"
                    )
                    auth = ", ".join(spec.auth_methods)
                t.add_row(info.name, info.distribution or "-", info.version or "-", name or "-", auth, caps,
                          ", ".join(sorted(users.get(name, []))))
        out.print(t)
        for failure in kade.pm.failures:
            err.print(f"[yellow]not loaded:[/] {failure.name} ({failure.distribution or '?'}): {failure.error}")


@plugins_app.command("enable")
def plugins_enable(platform: str, tenant: TenantOpt) -> None:
    """Let a tenant connect stores of PLATFORM."""
    from kade.tenants import enable_platform, get_tenant

    with session_for() as (kade, session):
        changed = enable_platform(session, kade.pm, get_tenant(session, tenant), platform)
        out.print(f"{platform} {'enabled' if changed else 'was already enabled'} for {tenant}")


@plugins_app.command("disable")
def plugins_disable(platform: str, tenant: TenantOpt) -> None:
    """Withdraw PLATFORM from a tenant."""
    from kade.tenants import disable_platform, get_tenant

    with session_for() as (kade, session):
        kade.pm.platform(platform)
        changed = disable_platform(session, get_tenant(session, tenant), platform)
        out.print(f"{platform} {'disabled' if changed else 'was not enabled'} for {tenant}")


# -------------------------------------------------------------------------------------- connection


@connection_app.command("add")
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
    from kade.connections import add_connection, read_credentials_file
    from kade.errors import UserError
    from kade.tenants import get_tenant

    settings: dict[str, str] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected NAME=VALUE")
        settings[key] = value
    creds = read_credentials_file(credentials)
    with session_for() as (kade, session):
        conn = add_connection(
            session, kade.pm, kade.vault, get_tenant(session, tenant), platform_name=platform, name=name,
            base_url=url, credentials=creds, auth_method=auth, settings=settings, replaces=replaces,
        )
        out.print(
            f"connection {conn.name} ({conn.platform}) added in status {conn.status}: it imports products and "
            f"orders; enable stock/shipments with `kade connection settings {conn.name} send_stock on -t {tenant}`, "
            f"then `kade connection activate {conn.name} -t {tenant}`"
        )


@connection_app.command("list")
def connection_list(tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None) -> None:
    """List connections."""
    from kade.connections import list_connections
    from kade.models import Tenant
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        scope = get_tenant(session, tenant) if tenant else None
        slugs = {t.id: t.slug for t in session.exec(select(Tenant)).all()}
        t = table("Connections", "tenant", "name", "platform", "status", "auth", "stock", "shipments")
        for conn in list_connections(session, scope):
            t.add_row(slugs.get(conn.tenant_id, "?"), conn.name, conn.platform, conn.status, conn.auth_method,
                      "on" if conn.send_stock else "off", "on" if conn.send_shipments else "off")
        out.print(t)


@connection_app.command("show")
def connection_show(name: str, tenant: TenantOpt) -> None:
    """Show a connection: settings (never credentials) and its status history."""
    from kade.connections import get_connection, settings_summary
    from kade.models import ConnectionStatusChange
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        out.print(f"[bold]{conn.name}[/] ({conn.platform}) — status [bold]{conn.status}[/]")
        if kade.pm.platform(conn.platform).spec.capabilities.webhooks:
            from kade.cli.secrets import webhook_url

            out.print(f"webhook URL: {webhook_url(kade, conn)}", markup=False, highlight=False, soft_wrap=True)
        t = table("Settings", "setting", "value", "meaning")
        for row in settings_summary(kade.pm, conn):
            t.add_row(*row)
        out.print(t)
        history = session.exec(
            select(ConnectionStatusChange).where(ConnectionStatusChange.connection_id == conn.id)
            .order_by(col(ConnectionStatusChange.id))
        ).all()
        h = table("Status history", "at", "from", "to", "actor", "reason")
        for change in history:
            h.add_row(change.at.isoformat(timespec="seconds"), change.from_status or "-", change.to_status,
                      change.actor, change.reason)
        out.print(h)


@connection_app.command("settings")
def connection_settings(
    name: str,
    tenant: TenantOpt,
    key: Annotated[str | None, typer.Argument(help="setting to change")] = None,
    value: Annotated[str | None, typer.Argument(help="new value")] = None,
) -> None:
    """Show settings, or change one: `kade connection settings NAME send_stock on -t TENANT`."""
    from kade.connections import get_connection, settings_summary, update_setting
    from kade.errors import UserError
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        if key is not None:
            if value is None:
                raise UserError(f"give a value for {key}")
            new = update_setting(session, kade.pm, conn, key, value, vault=kade.vault)
            out.print(f"{conn.name}: {key} = {new}")
            return
        t = table(f"Settings of {conn.name}", "setting", "value", "meaning")
        for row in settings_summary(kade.pm, conn):
            t.add_row(*row)
        out.print(t)


@connection_app.command("activate")
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
        t = table(f"About to activate {conn.name}", "setting", "value", "meaning")
        for row in settings_summary(kade.pm, conn):
            t.add_row(*row)
        out.print(t)
        if not yes and not typer.confirm("Activate with these settings?", default=False):
            raise Exit2("activation cancelled; nothing changed")
        changed = activate(session, conn)
        out.print(f"{conn.name} is {'now' if changed else 'already'} active")


@connection_app.command("pause")
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
        out.print(f"{conn.name} is {'now' if changed else 'already'} paused")


# ----------------------------------------------------------------------------------- product/stock


@product_app.command("import")
def product_import(
    tenant: TenantOpt,
    file: Annotated[Path | None, typer.Argument(help="CSV (sku,ean,name,price,stock) or JSON list")] = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c",
                                                   help="import and link a store's products instead")] = None,
) -> None:
    """Import warehouse products from a file (upsert by SKU; all rows validated first), or link a
    store's products to warehouse products (R6), creating unknown ones unless import is off."""
    from kade.errors import UserError
    from kade.products import import_products, read_product_file
    from kade.tenants import get_tenant

    if (file is None) == (connection is None):
        raise UserError("give either a product FILE or --connection NAME")
    if file is not None:
        with session_for() as (_, session):
            created, updated = import_products(session, get_tenant(session, tenant), read_product_file(file))
            out.print(f"{created} products created, {updated} updated")
        return
    from kade.catalog import import_store_products
    from kade.connections import get_connection

    with session_for() as (_, session):
        conn_id = get_connection(session, get_tenant(session, tenant), connection or "").id
    assert conn_id is not None
    kade = make_kade()
    try:
        stats = import_store_products(kade, conn_id)
    finally:
        kade.close()
    out.print(f"{stats.linked} store products linked ({stats.created} created in the warehouse), "
              f"{stats.unmatched} without a match, {stats.quarantined} quarantined")


@product_app.command("list")
def product_list(tenant: TenantOpt, limit: Annotated[int, typer.Option(min=1)] = 100) -> None:
    """List warehouse products."""
    from kade.products import list_products
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        t = table("Products", "sku", "ean", "name", "price", "stock")
        for p in list_products(session, get_tenant(session, tenant), limit):
            t.add_row(p.sku, p.ean or "", p.name, "" if p.price is None else str(p.price), str(p.stock))
        out.print(t)


@stock_app.command("set")
def stock_set(sku: str, quantity: int, tenant: TenantOpt) -> None:
    """Set a product's stock; pushes follow to every store that sends stock."""
    from kade.stock import set_stock
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        _, queued = set_stock(session, get_tenant(session, tenant), sku, quantity,
                              window=kade.settings.stock_window)
        out.print(f"{sku} = {quantity}; {queued} store push(es) queued")


@app.command("ship")
def ship(
    order: Annotated[str, typer.Argument(help="order number")],
    tenant: TenantOpt,
    carrier: Annotated[str, typer.Option(help="carrier name, e.g. PostNL, DHL, DPD")],
    tracking: Annotated[str | None, typer.Option(help="tracking code")] = None,
    tracking_url: Annotated[str | None, typer.Option(help="tracking URL")] = None,
    line: Annotated[list[str] | None, typer.Option(help="SKU[:QTY] to ship; repeatable; default all open")] = None,
) -> None:
    """Record a shipment; it is reported to the order's origin store only."""
    from kade.shipments import create_shipment, find_order, parse_line_args
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        found = find_order(session, get_tenant(session, tenant), order)
        shipment = create_shipment(session, found, carrier=carrier, tracking_code=tracking,
                                   tracking_url=tracking_url, lines=parse_line_args(line or []) or None)
        out.print(f"shipment {shipment.id} for order {found.number} recorded ({shipment.status})")



actions_app = typer.Typer(help="Outbox actions (stock pushes, shipment reports, cancellations).", no_args_is_help=True)
app.add_typer(actions_app, name="actions")
orders_app = typer.Typer(help="Imported orders.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")
app.add_typer(plugin_app, name="plugin")


@app.command("demo")
def demo_cmd(
    orders: Annotated[int, typer.Option(min=1, max=5000, help="orders per simulated store")] = 40,
    serve: Annotated[bool, typer.Option(help="keep the simulators running on localhost afterwards")] = False,
) -> None:
    """Run Kade's main job end to end against simulated stores (embedded mode, no setup)."""
    from kade.demo import run_demo

    settings = Settings()
    configure_logging(settings.log_format, "ERROR")
    warnings.showwarning = _show_warning
    summary = run_demo(settings, out, orders=orders, serve=serve)
    if not (summary.orders_imported and summary.stock_pushed and summary.shipments_confirmed):
        raise Exit2("the demo finished with an empty summary; see the events above")


@app.command("worker")
def worker(
    processes: Annotated[int, typer.Option(min=1, help="worker processes (Redis mode)")] = 2,
    threads: Annotated[int, typer.Option(min=1, help="threads per process")] = 4,
) -> None:
    """Run workers. With KADE_REDIS_URL: Dramatiq worker processes; without: in-process workers
    plus the scheduler (the embedded mode)."""
    settings = Settings()
    if settings.redis_url:
        import dramatiq.cli

        make_kade().close()  # refuse to start (one line) on a stale schema or a wrong key
        argv = ["dramatiq", "kade.worker_main", "--processes", str(processes), "--threads", str(threads)]
        sys.argv = argv
        sys.exit(dramatiq.cli.main())  # type: ignore[no-untyped-call]
    _run_embedded(threads)


def _run_embedded(threads: int, *, scheduler: bool = True) -> None:
    import signal
    import threading

    from kade.runtime import Runtime
    from kade.scheduler import Scheduler

    kade = make_kade(log_level="INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime(kade).start(threads=threads)
    err.print(f"kade: embedded worker running with {threads} threads (Ctrl-C stops)")
    try:
        if scheduler:
            Scheduler(kade, runtime.actors).run(stop)
        else:
            stop.wait()
    finally:
        runtime.stop()
        kade.close()


@app.command("scheduler")
def scheduler_cmd(interval: Annotated[float, typer.Option(min=0.1, help="seconds between ticks")] = 1.0) -> None:
    """Run the scheduler (polling, nightly stock check, outbox sweep). Only one acts at a time."""
    import signal
    import threading

    from kade.runtime import Runtime
    from kade.scheduler import Scheduler

    settings = Settings()
    if not settings.redis_url:
        raise Exit2("without KADE_REDIS_URL the scheduler runs inside `kade worker`")
    kade = make_kade(log_level="INFO")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = Runtime(kade)
    try:
        Scheduler(kade, runtime.actors).run(stop, interval)
    finally:
        kade.close()


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
) -> None:
    """Serve webhook intake (/webhooks/{token}), the warehouse API (/api/v1), the console (/console), /health
    and /metrics."""
    import uvicorn

    from kade.api import create_api, is_loopback
    from kade.runtime import Runtime

    kade = make_kade(log_level="INFO")
    public = not is_loopback(host)
    if public and not kade.settings.admin_token:
        err.print("kade: /metrics and the details of /health are off: set KADE_ADMIN_TOKEN to serve them beyond "
                  "loopback", markup=False, soft_wrap=True)
    runtime = Runtime(kade)
    if not kade.settings.redis_url:
        runtime.start(threads=2)  # embedded: the webhook's import runs in this process
    try:
        uvicorn.run(create_api(kade, runtime, public=public), host=host, port=port, log_level="warning",
                    access_log=False, log_config=uvicorn_log_config())
    finally:
        runtime.stop()
        kade.close()


@app.command("health")
def health_cmd() -> None:
    """Connections by status, pending and failed actions; exits 1 while an alert holds."""
    from kade.health import check_alerts

    kade = make_kade()
    try:
        report = check_alerts(kade)
    finally:
        kade.close()
    t = table("Health", "what", "value")
    for status, count in sorted(report.connections.items()):
        t.add_row(f"connections {status}", str(count))
    t.add_row("pending actions", str(report.pending))
    t.add_row("failed actions", str(report.failed))
    age = report.oldest_pending_seconds
    t.add_row("oldest pending", "-" if age is None else f"{age:.0f}s")
    out.print(t)
    for alert in report.alerts:
        err.print(f"ALERT: {alert}", markup=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("events")
def events_cmd(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t")] = None,
    connection: Annotated[str | None, typer.Option("--connection", "-c")] = None,
    kind: Annotated[str | None, typer.Option(help="event kind, e.g. shipment_report")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok, failed, retry, rejected...")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """The integration event log, newest first."""
    from kade.connections import get_connection
    from kade.eventlog import list_events
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        tenant_ids, connection_id = None, None
        if tenant:
            t_row = get_tenant(session, tenant)
            tenant_ids = [t_row.id or 0]
            if connection:
                connection_id = get_connection(session, t_row, connection).id
        elif connection:
            raise Exit2("--connection needs --tenant")
        t = table("Events", "at", "kind", "outcome", "connection", "message")
        for ev in list_events(session, tenant_ids=tenant_ids, connection_id=connection_id, kind=kind,
                              outcome=outcome, limit=limit):
            t.add_row(ev.at.isoformat(timespec="seconds"), ev.kind, ev.outcome, str(ev.connection_id or ""),
                      ev.message)
        out.print(t)


@actions_app.command("list")
def actions_list(
    failed: Annotated[bool, typer.Option("--failed", help="only failed actions")] = False,
    limit: Annotated[int, typer.Option(min=1)] = 50,
) -> None:
    """List outbox actions, newest first."""
    from kade.models import ActionStatus
    from kade.recovery import list_actions

    with session_for() as (_, session):
        t = table("Actions", "id", "kind", "connection", "status", "attempts", "next attempt", "last error")
        for a in list_actions(session, statuses=[ActionStatus.FAILED] if failed else [], limit=limit):
            t.add_row(str(a.id), a.kind, str(a.connection_id), a.status, str(a.attempts),
                      a.next_attempt_at.isoformat(timespec="seconds"), a.last_error or "")
        out.print(t)


@actions_app.command("retry")
def actions_retry(
    ids: Annotated[list[int] | None, typer.Argument(help="action ids; none with --all-failed")] = None,
    all_failed: Annotated[bool, typer.Option("--all-failed", help="retry every failed action")] = False,
) -> None:
    """Put failed actions back in the queue (attempts reset)."""
    from kade.models import Action, ActionStatus
    from kade.recovery import retry_actions

    with session_for() as (_, session):
        if all_failed:
            rows = list(session.exec(select(Action).where(Action.status == ActionStatus.FAILED)).all())
        elif ids:
            rows = []
            for action_id in ids:
                row = session.get(Action, action_id)
                if row is None:
                    raise Exit2(f"no action {action_id}")
                rows.append(row)
        else:
            raise Exit2("name action ids or use --all-failed")
        out.print(f"{retry_actions(session, rows)} action(s) queued again")


@orders_app.command("import")
def orders_import(
    connection: Annotated[str, typer.Argument(help="connection name")],
    tenant: TenantOpt,
    full: Annotated[bool, typer.Option(help="ignore the cursor: fetch everything open")] = False,
) -> None:
    """Import orders from a connection now (the scheduler does this on its own)."""
    from kade.connections import get_connection
    from kade.ingest import import_orders
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), connection)
        conn_id = conn.id
    assert conn_id is not None
    kade = make_kade()
    try:
        stats = import_orders(kade, conn_id, full=full)
    finally:
        kade.close()
    out.print(f"{stats.created} new, {stats.updated} changed, {stats.unchanged} unchanged, "
              f"{stats.ignored} ignored, {stats.quarantined} quarantined")


@orders_app.command("list")
def orders_list(tenant: TenantOpt, limit: Annotated[int, typer.Option(min=1)] = 50,
                connection: Annotated[str | None, typer.Option("--connection", "-c",
                                                               help="only this connection's orders")] = None,
                open_only: Annotated[bool, typer.Option("--open", help="only orders not shipped or cancelled")]
                = False) -> None:
    """List imported orders (with --open: what an old connection still has to ship, rule R9)."""
    from kade.connections import get_connection
    from kade.models import Order, OrderState
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        t_row = get_tenant(session, tenant)
        query = select(Order).where(Order.tenant_id == t_row.id).order_by(col(Order.id).desc()).limit(limit)
        if connection:
            query = query.where(Order.connection_id == get_connection(session, t_row, connection).id)
        if open_only:
            query = query.where(col(Order.status).in_([OrderState.OPEN, OrderState.PARTIALLY_SHIPPED]))
        t = table("Orders", "number", "connection", "status", "currency", "total", "imported")
        for o in session.exec(query).all():
            t.add_row(o.number, str(o.connection_id), o.status, o.currency, str(o.total),
                      o.imported_at.isoformat(timespec="seconds"))
        out.print(t)


@orders_app.command("quarantine")
def orders_quarantine(tenant: TenantOpt) -> None:
    """Store records Kade refused, with the reason (nothing else of their page was lost)."""
    from kade.quarantine import list_quarantine
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        rows = list_quarantine(session, tenant_ids=[get_tenant(session, tenant).id or 0])
        t = table("Quarantine", "connection", "kind", "remote id", "reason", "since")
        for q, c in rows:
            t.add_row(c.name, q.kind, q.remote_id, q.reason, q.created_at.isoformat(timespec="seconds"))
        out.print(t)


@orders_app.command("cancel")
def orders_cancel(number: str, tenant: TenantOpt,
                  reason: Annotated[str, typer.Option(help="reason code sent to the store")] = "out_of_stock") -> None:
    """Cancel an order from the warehouse; the cancellation goes to its origin store only."""
    from kade.shipments import cancel_in_store, find_order
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        order = find_order(session, get_tenant(session, tenant), number)
        cancel_in_store(session, order, reason=reason)
        out.print(f"order {order.number} cancelled; the store is told next")


@connection_app.command("test")
def connection_test(name: str, tenant: TenantOpt) -> None:
    """Make one authenticated call to the store."""
    from kade.connections import get_connection
    from kade.tenants import get_tenant

    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        result = kade.pm.platform(conn.platform).check_connection(kade.context(conn))
        out.print(f"{conn.name}: {'ok' if result.ok else 'FAILED'} {result.message}")
        if not result.ok:
            raise typer.Exit(1)


@connection_app.command("migrate")
def connection_migrate(
    name: str,
    tenant: TenantOpt,
    auth: Annotated[str, typer.Option("--auth", help="the new auth method")],
    credentials: Annotated[Path, typer.Option("--credentials", help="JSON file with the new credentials")],
) -> None:
    """Move a connection to another login method; verified live before the switch."""
    from kade.connections import get_connection, read_credentials_file
    from kade.migration import migrate
    from kade.tenants import get_tenant

    creds = read_credentials_file(credentials)
    with session_for() as (kade, session):
        conn = get_connection(session, get_tenant(session, tenant), name)
        conn_id = conn.id
    assert conn_id is not None
    kade = make_kade()
    try:
        result = migrate(kade, conn_id, auth, creds, actor="cli")
    finally:
        kade.close()
    out.print(f"{name} now logs in with {result.auth_method}")

app.add_typer(__import__("kade.cli.secrets", fromlist=["secrets_app"]).secrets_app, name="secrets")


from kade.cli import alert as _alert  # noqa: E402
from kade.cli import apikey as _apikey  # noqa: E402
from kade.cli import webhook as _webhook  # noqa: E402

app.add_typer(_apikey.app, name="apikey")
app.add_typer(_webhook.app, name="webhook")
app.add_typer(_alert.app, name="alert")
app.add_typer(__import__("kade.cli.operator", fromlist=["app"]).app, name="operator")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn Kade's errors into one line and exit code 2."""
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code:  # typer.Exit(n) comes back as a return value here
            sys.exit(code)
    except (KadeError, Exit2) as exc:
        message = " ".join(redact_text(str(exc)).split())  # one line, whatever the driver said
        err.print(f"kade: error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err.print("kade: aborted", markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        if isinstance(exc, _usage_errors()):  # a mistyped command or option: click's own message
            exc.show()  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)) or 2)
        raise


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's exception classes (Typer may ship its own copy of Click)."""
    found: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        from click import ClickException

        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)


# Command groups that live in modules of their own register themselves on ``app`` when imported.
from kade.cli import recover as _recover  # noqa: E402,F401

if __name__ == "__main__":
    main()
