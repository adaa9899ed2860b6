"""Warehouse shipments and the origin-store rule (R1).

A shipment is recorded with its lines in one transaction together with the outbox action that
reports it — to the order's origin connection and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.boundary import INT_MAX
from kade.errors import OriginError, UserError
from kade.models import (
    ActionKind,
    Connection,
    Order,
    OrderLine,
    OrderState,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    Tenant,
    utcnow,
)
from kade.outbox import add_action


class HasOrigin(Protocol):
    number: str
    connection_id: int


def check_origin(order: HasOrigin, connection_id: int) -> None:
    """Refuse any target but the order's origin connection (rule R1)."""
    if connection_id != order.connection_id:
        raise OriginError(
            f"order {order.number} came from connection {order.connection_id}; its shipments and "
            f"cancellations go only there, not to connection {connection_id}"
        )


def cancel_in_store(session: Session, order: Order, *, target_connection_id: int | None = None,
                    reason: str = "out_of_stock") -> None:
    """Cancel an order from the warehouse side: locally now, in its origin store via the outbox."""
    target = order.connection_id if target_connection_id is None else target_connection_id
    check_origin(order, target)
    if order.status in (OrderState.SHIPPED, OrderState.PARTIALLY_SHIPPED):
        raise UserError(f"order {order.number} has shipped items; it cannot be cancelled")
    if order.status == OrderState.CANCELLED:
        raise UserError(f"order {order.number} is already cancelled")
    order.status = OrderState.CANCELLED
    order.updated_at = utcnow()
    session.add(order)
    assert order.id is not None
    from kade.outbound import emit, order_event

    emit(session, order.tenant_id, "orders.cancelled", f"order:{order.id}",
         order_event(order.id, order.number, order.connection_id, order.status))
    add_action(session, tenant_id=order.tenant_id, connection_id=target, kind=ActionKind.CANCEL,
               key=f"cancel:{order.id}", payload={"order_id": order.id, "reason": reason})
    record_event(session, "order_cancel_requested", "queued", f"order {order.number}: {reason}",
                 tenant_id=order.tenant_id, connection_id=target)


def find_order(session: Session, tenant: Tenant, number: str, *, connection_id: int | None = None) -> Order:
    """An order by number (within one connection when given), or by id written ``#ID``."""
    if number.startswith("#") and number[1:].isdigit():
        order = session.get(Order, int(number[1:]))
        if order is None or order.tenant_id != tenant.id:
            raise UserError(f"tenant {tenant.slug!r} has no order with id {number[1:]}")
        return order
    query = select(Order).where(Order.tenant_id == tenant.id, Order.number == number)
    if connection_id is not None:
        query = query.where(Order.connection_id == connection_id)
    orders = session.exec(query).all()
    if not orders:
        raise UserError(f"tenant {tenant.slug!r} has no order {number!r}")
    if len(orders) > 1:
        ids = ", ".join(f"#{o.id} (connection {o.connection_id})" for o in orders)
        raise UserError(f"order number {number!r} exists on several connections: {ids}; "
                        f"give --connection NAME or the id as #ID")
    return orders[0]


def parse_line_args(values: Sequence[str]) -> dict[str, int]:
    """``SKU:QTY`` or ``SKU`` (all remaining) per ``--line``."""
    items: list[tuple[str, int | None]] = []
    for value in values:
        sku, _, qty = value.partition(":")
        if not sku:
            raise UserError(f"--line {value!r}: expected SKU or SKU:QUANTITY")
        if qty and (not (qty.isascii() and qty.isdigit()) or int(qty) <= 0 or int(qty) > INT_MAX):
            raise UserError(f"--line {value!r}: quantity must be a positive whole number")
        items.append((sku, int(qty) if qty else None))
    return line_map(items)


def line_map(items: Iterable[tuple[str, int | None]]) -> dict[str, int]:
    """Shipment lines as ``create_shipment`` takes them: SKU → quantity, -1 for all that is open.

    A SKU named twice adds up; named once without a quantity, it ships everything open.
    """
    out: dict[str, int] = {}
    for sku, qty in items:
        if qty is None:
            out[sku] = -1
        elif out.get(sku) != -1:
            out[sku] = out.get(sku, 0) + qty
    return out


def create_shipment(
    session: Session,
    order: Order,
    *,
    carrier: str,
    tracking_code: str | None,
    tracking_url: str | None = None,
    lines: dict[str, int] | None = None,
    target_connection_id: int | None = None,
) -> Shipment:
    """Record a shipment (all open quantities, or ``lines`` by SKU) and queue its report."""
    target = order.connection_id if target_connection_id is None else target_connection_id
    check_origin(order, target)
    if not carrier.strip():
        raise UserError("a shipment needs a carrier")
    if order.status == OrderState.CANCELLED:
        raise UserError(f"order {order.number} is cancelled; it cannot be shipped")
    order_lines = session.exec(
        select(OrderLine).where(OrderLine.order_id == order.id, OrderLine.fulfilled_by_marketplace == False)  # noqa: E712
        .order_by(col(OrderLine.id))
    ).all()
    open_qty = {line.id: line.quantity - line.quantity_shipped - line.quantity_cancelled for line in order_lines}
    chosen: list[tuple[OrderLine, int]] = []
    if lines:
        wanted = dict(lines)
        for line in order_lines:
            key = line.sku if line.sku in wanted else (line.ean if line.ean in wanted else None)
            if key is None:
                continue
            qty = wanted[key]
            available = open_qty[line.id]
            take = available if qty == -1 else min(qty, available)
            if take > 0:
                chosen.append((line, take))
                if qty != -1:
                    wanted[key] = qty - take
                    if wanted[key] == 0:
                        del wanted[key]
                else:
                    wanted.pop(key, None)
        unknown = [sku for sku, q in wanted.items() if q != 0]
        if unknown:
            raise UserError(
                f"order {order.number}: cannot ship {', '.join(unknown)} — not on the order or more than is open"
            )
    else:
        chosen = [(line, open_qty[line.id]) for line in order_lines if open_qty[line.id] > 0]
    if not chosen:
        raise UserError(f"order {order.number} has nothing left to ship")
    assert order.id is not None
    shipment = Shipment(order_id=order.id, carrier=carrier.strip(), tracking_code=tracking_code,
                        tracking_url=tracking_url)
    session.add(shipment)
    session.flush()
    assert shipment.id is not None
    for line, qty in chosen:
        assert line.id is not None
        session.add(ShipmentLine(shipment_id=shipment.id, order_line_id=line.id, quantity=qty))
        line.quantity_shipped += qty
        session.add(line)
    remaining = sum(open_qty.values()) - sum(q for _, q in chosen)
    order.status = OrderState.SHIPPED if remaining == 0 else OrderState.PARTIALLY_SHIPPED
    order.updated_at = utcnow()
    session.add(order)
    connection = session.get(Connection, target)
    assert connection is not None and shipment.id is not None
    if connection.send_shipments:
        add_action(
            session,
            tenant_id=order.tenant_id,
            connection_id=target,
            kind=ActionKind.SHIPMENT,
            key=f"shipment:{shipment.id}",
            payload={"shipment_id": shipment.id},
        )
        outcome = "queued"
    else:
        shipment.status = ShipmentStatus.SKIPPED
        session.add(shipment)
        outcome = "not_sent"
    record_event(
        session, "shipment_created", outcome,
        f"order {order.number}: {sum(q for _, q in chosen)} item(s) via {carrier}"
        + ("" if connection.send_shipments else " (sending shipments is off for this connection)"),
        tenant_id=order.tenant_id, connection_id=target, data={"shipment_id": shipment.id},
    )
    return shipment
