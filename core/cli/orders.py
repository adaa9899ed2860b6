"""``kade orders`` and ``kade ship``: imported orders, shipments and cancellations."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlmodel import Session

from kade.cli.common import JsonOpt, TenantOpt, kade_for, out, print_json, row, say, session_for, table
from kade.cli.inputs import LIMIT
from kade.models import Order

app: typer.Typer = typer.Typer(help="Imported orders.", no_args_is_help=True)
commands: typer.Typer = typer.Typer()  # top-level: ``kade ship``

OrderArg = Annotated[str, typer.Argument(help="order number, or the order's id as #ID (see `orders list`)")]
ConnectionOpt = Annotated[str | None, typer.Option("--connection", "-c",
                                                   help="the connection the order came from")]


def _find(session: Session, tenant: str, order: str, connection: str | None) -> Order:
    from kade.connections import get_connection
    from kade.shipments import find_order
    from kade.tenants import get_tenant

    t_row = get_tenant(session, tenant)
    conn_id = get_connection(session, t_row, connection).id if connection else None
    return find_order(session, t_row, order, connection_id=conn_id)


@commands.command("ship")
def ship(
    order: OrderArg,
    tenant: TenantOpt,
    carrier: Annotated[str, typer.Option(help="carrier name, e.g. PostNL, DHL, DPD")],
    tracking: Annotated[str | None, typer.Option(help="tracking code")] = None,
    tracking_url: Annotated[str | None, typer.Option(help="tracking URL")] = None,
    line: Annotated[list[str] | None, typer.Option(help="SKU[:QTY] to ship; repeatable; default all open")] = None,
    connection: ConnectionOpt = None,
) -> None:
    """Record a shipment; it is reported to the order's origin store only."""
    from kade.shipments import create_shipment, parse_line_args

    lines = parse_line_args(line or []) or None
    with session_for() as (_, session):
        found = _find(session, tenant, order, connection)
        shipment = create_shipment(session, found, carrier=carrier, tracking_code=tracking,
                                   tracking_url=tracking_url, lines=lines)
        say(f"shipment {shipment.id} for order {found.number} recorded ({shipment.status})")


@app.command("cancel")
def orders_cancel(order: OrderArg, tenant: TenantOpt,
                  reason: Annotated[str, typer.Option(help="reason code sent to the store")] = "out_of_stock",
                  connection: ConnectionOpt = None) -> None:
    """Cancel an order from the warehouse; the cancellation goes to its origin store only."""
    from kade.shipments import cancel_in_store

    with session_for() as (_, session):
        found = _find(session, tenant, order, connection)
        cancel_in_store(session, found, reason=reason)
        say(f"order {found.number} cancelled; the store is told next")


@app.command("import")
def orders_import(
    connection: Annotated[str, typer.Argument(help="connection name")],
    tenant: TenantOpt,
    full: Annotated[bool, typer.Option(help="ignore the cursor: fetch everything open")] = False,
) -> None:
    """Import orders from a connection now (the scheduler does this on its own)."""
    from kade.connections import connection_id
    from kade.ingest import import_orders

    with kade_for() as kade:
        stats = import_orders(kade, connection_id(kade.db, tenant, connection), full=full)
    say(f"{stats.created} new, {stats.updated} changed, {stats.unchanged} unchanged, "
        f"{stats.ignored} ignored, {stats.quarantined} quarantined")


@app.command("list")
def orders_list(tenant: TenantOpt, limit: Annotated[int, typer.Option(**LIMIT)] = 50,
                connection: Annotated[str | None, typer.Option("--connection", "-c",
                                                               help="only this connection's orders")] = None,
                open_only: Annotated[bool, typer.Option("--open", help="only orders not shipped or cancelled")]
                = False, as_json: JsonOpt = False) -> None:
    """List imported orders (with --open: what an old connection still has to ship, rule R9)."""
    from kade.listings import connection_names, list_orders
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        t_row = get_tenant(session, tenant)
        names = connection_names(session, t_row.id)
        items = [{"id": o.id, "number": o.number, "connection": names.get(o.connection_id, str(o.connection_id)),
                  "connection_id": o.connection_id, "status": o.status, "currency": o.currency, "total": o.total,
                  "imported_at": o.imported_at}
                 for o in list_orders(session, t_row, connection=connection, open_only=open_only, limit=limit)]
    if as_json:
        print_json({"orders": items})
        return
    t = table("Orders", "id", "number", "connection", "status", "currency", "total", "imported")
    for o in items:
        row(t, f"#{o['id']}", o["number"], o["connection"], o["status"], o["currency"], o["total"],
            o["imported_at"])
    out.print(t)


@app.command("quarantine")
def orders_quarantine(tenant: TenantOpt, as_json: JsonOpt = False) -> None:
    """Store records Kade refused, with the reason (nothing else of their page was lost)."""
    from kade.quarantine import list_quarantine
    from kade.tenants import get_tenant

    with session_for() as (_, session):
        rows = list_quarantine(session, tenant_ids=[get_tenant(session, tenant).id or 0])
        items = [{"id": q.id, "connection": c.name, "kind": q.kind, "remote_id": q.remote_id, "reason": q.reason,
                  "since": q.created_at} for q, c in rows]
    if as_json:
        print_json({"quarantine": items})
        return
    t = table("Quarantine", "connection", "kind", "remote id", "reason", "since")
    for q in items:
        row(t, q["connection"], q["kind"], q["remote_id"], q["reason"], q["since"])
    out.print(t)
