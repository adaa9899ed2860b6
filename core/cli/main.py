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
from kade.config import Settings
from kade.errors import KadeError
from kade.logs import configure_logging, redact_text

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
        kade.db.check()
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


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="show the version and exit")] = False,
) -> None:
    if version:
        out.print(f"kade {__version__}")
        raise typer.Exit()


# --------------------------------------------------------------------------------------------- db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to this version of Kade."""
    from kade.secrets import load_key

    kade = make_kade(check_schema=False)
    try:
        kade.db.upgrade()
        if kade.db.dialect == "sqlite":
            load_key(kade.settings)  # the embedded mode's key is made (and announced) here, once
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
                        f"complete after all: {'yes' if c.complete_after_all else 'no'}; "
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
            new = update_setting(session, kade.pm, conn, key, value)
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
    file: Annotated[Path, typer.Argument(help="CSV (sku,ean,name,price,stock) or JSON list")],
) -> None:
    """Import warehouse products from a file (upsert by SKU; all rows validated first)."""
    from kade.products import import_products, read_product_file
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        created, updated = import_products(session, get_tenant(session, tenant), read_product_file(file))
        out.print(f"{created} products created, {updated} updated")


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


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app and turn Kade's errors into one line and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except (KadeError, Exit2) as exc:
        err.print(f"kade: error: {redact_text(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Abort:
        err.print("kade: aborted", markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
