"""What the warehouse reads: the order feed, one order in full, products by page, connection status.

The feed lists a tenant's orders by ``change_seq`` after an opaque cursor, so a WMS that keeps
its last cursor sees every order that is new or changed since, once per change. ``change_seq`` is
handed out by the database in commit order (migration 0007), so a transaction that commits late
can never land behind a point a reader has already passed, as it could when the feed paged by
``updated_at``. The queries return plain dicts (Core selects, no ORM objects): the feed is read by
the thousand per second, and the HTTP API and the console show the same shapes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.errors import NotFoundError, UserError
from kade.models import (
    Connection,
    ConnectionStatusChange,
    Order,
    OrderLine,
    OrderState,
    Product,
    Shipment,
    ShipmentLine,
)

MAX_PAGE = 1000


class CursorError(UserError):
    """A cursor that Kade did not hand out (or that was altered)."""


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError("cursor is not one Kade handed out") from None


def encode_order_cursor(change_seq: int) -> str:
    return _b64(f"o2|{change_seq}")


def decode_order_cursor(cursor: str) -> int:
    parts = _unb64(cursor).split("|")
    if len(parts) == 3 and parts[0] == "o1":
        raise CursorError("cursor is from the feed's earlier (updated_at) format; start again without a cursor")
    try:
        if len(parts) != 2 or parts[0] != "o2":
            raise ValueError
        change_seq = int(parts[1])
        if not 0 <= change_seq < 2**63:
            raise ValueError
    except ValueError:
        raise CursorError("cursor is not one Kade handed out") from None
    return change_seq


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(Decimal(value).normalize(), "f")


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


_ORDER_COLUMNS: tuple[Any, ...] = (Order.id, Order.connection_id, Order.remote_id, Order.number, Order.status,
                  Order.cancellation_requested, Order.currency, Order.total, Order.picked,
                  Order.remote_created_at, Order.updated_at, Order.imported_at, Order.change_seq)
_LINE_COLUMNS: tuple[Any, ...] = (OrderLine.order_id, OrderLine.id, OrderLine.sku, OrderLine.ean, OrderLine.name,
                 OrderLine.quantity, OrderLine.quantity_shipped, OrderLine.quantity_cancelled, OrderLine.unit_price)


def _order_dict(row: Sequence[Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    (order_id, connection_id, remote_id, number, status, cancel_req, currency, total, picked,
     created, updated, imported, _change_seq) = row
    return {"id": order_id, "connection_id": connection_id, "remote_id": remote_id, "number": number,
            "state": str(status), "cancellation_requested": bool(cancel_req), "currency": currency,
            "total": _money(total), "picked": bool(picked), "created_at": iso(created),
            "updated_at": iso(updated), "imported_at": iso(imported), "lines": lines}


def _lines(session: Session, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return out
    rows = session.execute(sa.select(*_LINE_COLUMNS).where(col(OrderLine.order_id).in_(order_ids))
                           .where(col(OrderLine.fulfilled_by_marketplace) == sa.false())
                           .order_by(col(OrderLine.id))).all()
    for order_id, line_id, sku, ean, name, qty, shipped, cancelled, price in rows:
        out[order_id].append({"id": line_id, "sku": sku, "ean": ean, "name": name, "quantity": qty,
                              "quantity_shipped": shipped, "quantity_cancelled": cancelled,
                              "quantity_open": qty - shipped - cancelled, "unit_price": _money(price)})
    return out


def order_feed(session: Session, tenant_id: int, *, cursor: str | None = None,
               states: Sequence[OrderState] = (), connection_id: int | None = None,
               limit: int = 100) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(orders with lines, the cursor to continue from, whether more wait) for one tenant."""
    limit = max(1, min(limit, MAX_PAGE))
    query = sa.select(*_ORDER_COLUMNS).where(col(Order.tenant_id) == tenant_id)
    if cursor:
        query = query.where(col(Order.change_seq) > decode_order_cursor(cursor))
    # 0: stamped when its transaction commits, which has not happened yet (only its own session sees it)
    query = query.where(col(Order.change_seq) > 0)
    if states:
        query = query.where(col(Order.status).in_([s.value for s in states]))
    if connection_id is not None:
        query = query.where(col(Order.connection_id) == connection_id)
    rows = session.execute(query.order_by(col(Order.change_seq)).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    lines = _lines(session, [r[0] for r in rows])
    orders = [_order_dict(r, lines[r[0]]) for r in rows]
    if rows:
        next_cursor: str | None = encode_order_cursor(rows[-1][12])
    else:
        next_cursor = cursor
    return orders, next_cursor, more


def tenant_order(session: Session, tenant_id: int, order_id: int) -> Order:
    """The order row, if it is this tenant's (another tenant's looks exactly like a missing one)."""
    order = session.get(Order, order_id) if 0 < order_id < 2**63 else None
    if order is None or order.tenant_id != tenant_id:
        raise NotFoundError(f"no order {order_id}")
    return order


def order_detail(session: Session, tenant_id: int, order_id: int) -> dict[str, Any]:
    """One order with its lines, origin connection and shipments."""
    tenant_order(session, tenant_id, order_id)
    row = session.execute(sa.select(*_ORDER_COLUMNS).where(col(Order.id) == order_id)).one()
    detail = _order_dict(row, _lines(session, [order_id])[order_id])
    conn = session.execute(sa.select(col(Connection.id), col(Connection.name), col(Connection.platform))
                           .where(col(Connection.id) == detail["connection_id"])).one()
    detail["origin"] = {"connection_id": conn[0], "name": conn[1], "platform": conn[2]}
    detail["shipments"] = shipments_of(session, [order_id]).get(order_id, [])
    return detail


def shipments_of(session: Session, order_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    shipments = session.exec(select(Shipment).where(col(Shipment.order_id).in_(order_ids))
                             .order_by(col(Shipment.id))).all()
    lines: dict[int, list[dict[str, Any]]] = {}
    if shipments:
        for sl, sku in session.execute(
            sa.select(ShipmentLine, col(OrderLine.sku)).join(OrderLine, col(OrderLine.id) == ShipmentLine.order_line_id)
            .where(col(ShipmentLine.shipment_id).in_([s.id for s in shipments]))
        ).all():
            lines.setdefault(sl.shipment_id, []).append(
                {"order_line_id": sl.order_line_id, "sku": sku, "quantity": sl.quantity})
    for s in shipments:
        assert s.id is not None
        out.setdefault(s.order_id, []).append(shipment_dict(s, lines.get(s.id, [])))
    return out


def shipment_dict(s: Shipment, lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": s.id, "order_id": s.order_id, "carrier": s.carrier, "tracking_code": s.tracking_code,
            "tracking_url": s.tracking_url, "status": str(s.status), "created_at": iso(s.created_at),
            "reported_at": iso(s.reported_at), "lines": lines}


def product_page(session: Session, tenant_id: int, *, cursor: str | None = None,
                 limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
    """Products by SKU after ``cursor``; the next cursor is None on the last page."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Product).where(Product.tenant_id == tenant_id)
    if cursor:
        parts = _unb64(cursor).split("|", 1)
        if len(parts) != 2 or parts[0] != "p1":
            raise CursorError("cursor is not one Kade handed out")
        query = query.where(col(Product.sku) > parts[1])
    rows = list(session.exec(query.order_by(col(Product.sku)).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"sku": p.sku, "ean": p.ean, "name": p.name, "price": _money(p.price), "stock": p.stock,
              "updated_at": iso(p.updated_at)} for p in rows]
    return items, (_b64(f"p1|{rows[-1].sku}") if more else None)


def connection_statuses(session: Session, tenant_id: int | None) -> list[dict[str, Any]]:
    """Every connection of a tenant (None: all tenants) with its status and the last change's reason."""
    query = select(Connection).order_by(col(Connection.id))
    if tenant_id is not None:
        query = query.where(Connection.tenant_id == tenant_id)
    conns = list(session.exec(query).all())
    last: dict[int, ConnectionStatusChange] = {}
    if conns:
        for change in session.exec(select(ConnectionStatusChange).where(
                col(ConnectionStatusChange.connection_id).in_([c.id for c in conns]))
                .order_by(col(ConnectionStatusChange.id))).all():
            last[change.connection_id] = change
    out = []
    for c in conns:
        assert c.id is not None
        latest = last.get(c.id)
        out.append({"id": c.id, "tenant_id": c.tenant_id, "name": c.name, "platform": c.platform,
                    "status": str(c.status), "auth_method": c.auth_method, "send_stock": c.send_stock,
                    "send_shipments": c.send_shipments, "activated_at": iso(c.activated_at),
                    "status_changed_at": iso(latest.at) if latest else None,
                    "status_reason": latest.reason if latest else None})
    return out
