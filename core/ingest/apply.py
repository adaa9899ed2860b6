"""Applying one page of orders in one transaction: create, update, quarantine
(rules R1-R3 and R6, principle 7)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.audit import notify, record_event
from kade.boundary import check_order, fit
from kade.db import insert_many, one_of
from kade.ingest.quarantine import quarantine
from kade.ingest.resolver import ProductResolver
from kade.ingest.rules import digest, order_state, store_shipped, validate_order
from kade.ingest.stats import ImportStats
from kade.models import (
    Connection,
    Order,
    OrderLine,
    OrderState,
    Shipment,
    ShipmentStatus,
    jsonable,
    utcnow,
)
from kade.outbound import emit, emit_many, order_event
from kade.types import (
    RejectedRecord,
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
)


def _quarantine(session: Session, connection: Connection, rejected: RejectedRecord, stats: ImportStats) -> None:
    quarantine(session, connection, "order", rejected)
    stats.quarantined += 1


def _existing(db: sa.Connection, connection_id: int, page: list[RemoteOrder]) -> dict[str, tuple[int, str]]:
    """The page's orders this connection has already, by remote id: (order id, fingerprint).

    Only ids and fingerprints: a re-import of unchanged orders never loads their payloads, and
    is not checked again either — the stored copy passed the checks, and the fingerprint
    covers everything the core would apply (names and amounts, which checks may cut, are not).
    """
    table = Order.__table__  # type: ignore[attr-defined]
    rows = db.execute(sa.select(table.c.id, table.c.remote_id, table.c.remote_digest)
                      .where(table.c.connection_id == connection_id,
                             one_of(db, table.c.remote_id, {o.remote_id for o in page})))
    return {remote_id: (order_id, fingerprint) for order_id, remote_id, fingerprint in rows}


def unchanged_page(db: sa.Connection, connection: Connection, orders: Iterable[RemoteOrder]) -> ImportStats | None:
    """The page's stats when every order on it is stored already with the same fingerprint (a
    re-import's usual page), read in one statement; None when anything would be written.

    ``db`` may be outside any transaction: nothing is written, and a page with anything to apply
    is applied by ``apply_page`` in a transaction that reads again. The stats are the ones
    ``apply_page`` gives for the same page.
    """
    assert connection.id is not None
    page = list(orders)
    if not page:
        return None
    existing = _existing(db, connection.id, page)
    for order in page:
        local = existing.get(order.remote_id)
        if local is None or local[1] != digest(order):
            return None
    return ImportStats(pages=1, unchanged=len(existing), newest=max(o.updated_at for o in page))


def apply_page(
    session: Session, connection: Connection, orders: Iterable[RemoteOrder], rejected: Iterable[RejectedRecord],
    product_cache: dict[tuple[str | None, str | None], int | None] | None = None,
) -> ImportStats:
    """Upsert one page of orders for ``connection`` inside the caller's transaction."""
    assert connection.id is not None
    stats = ImportStats(pages=1)
    for record in rejected:
        _quarantine(session, connection, record, stats)
    page = list(orders)
    if not page:
        return stats
    existing = _existing(session.connection(), connection.id, page)
    incoming: dict[str, RemoteOrder] = {}
    unchanged: set[str] = set()
    for order in page:
        local = existing.get(order.remote_id)
        if local is not None and local[1] == digest(order):
            unchanged.add(order.remote_id)  # a page repeating an order: the last copy wins
            incoming.pop(order.remote_id, None)
        else:
            reason = check_order(order) or validate_order(order)
            if reason is not None:
                _quarantine(session, connection, RejectedRecord(remote_id=order.remote_id, reason=reason,
                                                                raw=order.raw), stats)
                continue
            order = fit(order)
            incoming[order.remote_id] = order
            unchanged.discard(order.remote_id)
        if stats.newest is None or order.updated_at > stats.newest:
            stats.newest = order.updated_at
    stats.unchanged += len(unchanged)
    if not incoming:
        return stats
    if connection.replaces_id is not None:
        # R9: the store was connected before; what the old connection imported is not imported twice.
        known = set(session.exec(
            select(Order.remote_id).where(Order.connection_id == connection.replaces_id,
                                          col(Order.remote_id).in_(list(incoming)))
        ).all())
        for remote_id in known - set(existing):
            del incoming[remote_id]
            stats.already_imported += 1
    fresh: list[tuple[RemoteOrder, list[RemoteOrderLine], str]] = []
    changed: list[tuple[int, RemoteOrder, list[RemoteOrderLine], str]] = []
    for remote_id, remote in incoming.items():
        kept = [line for line in remote.lines if not line.fulfilled_by_marketplace]
        local = existing.get(remote_id)
        if not kept and local is None:
            # R2: fully fulfilled by the marketplace — not ours to ship.
            stats.ignored += 1
            continue
        fingerprint = digest(remote)
        if local is None:
            fresh.append((remote, kept, fingerprint))
        else:
            changed.append((local[0], remote, kept, fingerprint))
    if not fresh and not changed:
        return stats
    resolver = ProductResolver(session, connection, product_cache)
    resolver.prefetch(line for _, _, kept, _ in changed for line in kept)
    resolver.prefetch(line for _, kept, _ in fresh for line in kept)
    for order_id, remote, kept, fingerprint in changed:
        local_order = session.get(Order, order_id)
        assert local_order is not None
        was_cancelled = local_order.status == OrderState.CANCELLED
        stats.notifications += _update(session, connection, local_order, remote, kept, resolver, stats)
        local_order.remote_digest = fingerprint
        stats.updated += 1
        kind = "orders.cancelled" if local_order.status == OrderState.CANCELLED and not was_cancelled else \
            "orders.changed"
        emit(session, connection.tenant_id, kind, f"order:{order_id}",
             order_event(order_id, local_order.number, connection.id, local_order.status))
    stats.created = len(fresh)
    if fresh:
        _create_many(session, connection, fresh, resolver)
    stats.products_created = resolver.created
    return stats


def _line_row(order_id: int, line: RemoteOrderLine, product_id: int | None, shipped: int) -> OrderLine:
    return OrderLine(order_id=order_id, remote_line_id=line.remote_line_id, product_id=product_id, sku=line.sku,
                     ean=line.ean, name=line.name, quantity=line.quantity, quantity_cancelled=line.quantity_cancelled,
                     quantity_shipped=shipped, unit_price=line.unit_price, fulfilled_by_marketplace=False)


def _create_many(session: Session, connection: Connection,
                 fresh: list[tuple[RemoteOrder, list[RemoteOrderLine], str]], resolver: ProductResolver) -> None:
    """Insert a page's new orders and their lines in two statements (the import's hot path)."""
    assert connection.id is not None
    now = utcnow()
    rows = []
    shipped_in_store: list[str] = []
    for remote, lines, fingerprint in fresh:
        # An order the store already shipped (by hand, another tool) arrives shipped, so the
        # warehouse never ships it again; partly shipped ones keep only what is still open.
        state = order_state(((li.quantity, li.quantity_cancelled, store_shipped(remote, li)) for li in lines),
                            remote.status == RemoteOrderStatus.CANCELLED)
        if state in (OrderState.SHIPPED, OrderState.PARTIALLY_SHIPPED):
            shipped_in_store.append(remote.number)
        rows.append({
            "tenant_id": connection.tenant_id, "connection_id": connection.id, "remote_id": remote.remote_id,
            "number": remote.number, "status": state,
            "cancellation_requested": remote.cancellation_requested, "currency": remote.currency,
            "total": remote.total, "billing_address": remote.billing_address.model_dump(),
            "shipping_address": remote.shipping_address.model_dump(), "raw": jsonable(remote.raw),
            "picked": False, "remote_created_at": remote.created_at, "remote_updated_at": remote.updated_at,
            "remote_digest": fingerprint, "imported_at": now, "updated_at": now,
        })
    # Core inserts on the tables (no ORM unit of work): the import's hot path, measured.
    orders_table = Order.__table__  # type: ignore[attr-defined]
    lines_table = OrderLine.__table__  # type: ignore[attr-defined]
    ids = {remote_id: order_id for order_id, remote_id in insert_many(session, orders_table, rows,
                                                                      returning=("id", "remote_id"))}
    line_rows = [
        {"order_id": ids[remote.remote_id], "remote_line_id": line.remote_line_id,
         "product_id": resolver.resolve(line), "sku": line.sku, "ean": line.ean, "name": line.name,
         "quantity": line.quantity, "quantity_shipped": store_shipped(remote, line),
         "quantity_cancelled": line.quantity_cancelled, "unit_price": line.unit_price,
         "fulfilled_by_marketplace": False}
        for remote, lines, _ in fresh
        for line in lines
    ]
    insert_many(session, lines_table, line_rows)
    if shipped_in_store:
        shown = ", ".join(shipped_in_store[:20]) + (" ..." if len(shipped_in_store) > 20 else "")
        record_event(session, "order_shipped_in_store", "ok",
                     f"{len(shipped_in_store)} order(s) imported as (partly) shipped by the store: {shown}",
                     tenant_id=connection.tenant_id, connection_id=connection.id,
                     data={"orders": len(shipped_in_store)})
    emit_many(session, connection.tenant_id, "orders.created",
              [(f"order:{ids[remote.remote_id]}", order_event(ids[remote.remote_id], remote.number, connection.id,
                                                            row["status"]))
               for (remote, _, _), row in zip(fresh, rows, strict=True)])


def _update(session: Session, connection: Connection, order: Order, remote: RemoteOrder,
            lines: list[RemoteOrderLine], resolver: ProductResolver, stats: ImportStats) -> int:
    """Apply a changed order; returns how many notifications it raised (rule R3)."""
    assert order.id is not None
    notes = 0
    current = {li.remote_line_id: li for li in session.exec(select(OrderLine).where(OrderLine.order_id == order.id))}
    newly_cancelled = 0
    newly_shipped = 0
    # Work the warehouse has started on the order before this import (rule R3's "picked", or a
    # shipment of its own); read before the store's figures are applied.
    warehouse_shipped = any(r.quantity_shipped for r in current.values())
    for line in lines:
        row = current.get(line.remote_line_id)
        if row is None:
            row = _line_row(order.id, line, resolver.resolve(line), store_shipped(remote, line))
            newly_shipped += row.quantity_shipped
            session.add(row)
            current[line.remote_line_id] = row
            continue
        if line.quantity_cancelled > row.quantity_cancelled:
            newly_cancelled += line.quantity_cancelled - row.quantity_cancelled
            row.quantity_cancelled = line.quantity_cancelled
            session.add(row)
        # The store shipped more than Kade knows of (our own reports come back as equal figures).
        shipped = min(store_shipped(remote, line), max(0, row.quantity - row.quantity_cancelled))
        if shipped > row.quantity_shipped:
            newly_shipped += shipped - row.quantity_shipped
            row.quantity_shipped = shipped
            session.add(row)
    order.remote_updated_at = remote.updated_at
    order.updated_at = utcnow()
    order.raw = jsonable(remote.raw)
    if remote.cancellation_requested and not order.cancellation_requested:
        order.cancellation_requested = True
        notes += _note(session, connection, order, "cancellation_requested",
                       f"The customer asked to cancel order {order.number}; decide before it ships.")
    fully = remote.status == RemoteOrderStatus.CANCELLED or (
        lines and all(li.quantity_cancelled >= li.quantity for li in lines)
    )
    if newly_shipped and not fully and order.status != OrderState.CANCELLED:
        notes += _shipped_in_store(session, connection, order, current.values(), newly_shipped, warehouse_shipped)
    if fully and order.status != OrderState.CANCELLED:
        shipped = any(r.quantity_shipped for r in current.values())
        if order.picked or shipped:
            notes += _note(session, connection, order, "cancel_after_pick",
                           f"Order {order.number} was cancelled in the store, but it is already "
                           f"{'partly shipped' if shipped else 'being picked'}: stop it by hand.")
        else:
            order.status = OrderState.CANCELLED
            stats.cancelled += 1
            record_event(session, "order_cancelled", "ok", f"order {order.number} cancelled by the store",
                         tenant_id=connection.tenant_id, connection_id=connection.id)
    elif newly_cancelled and not fully:
        notes += _note(session, connection, order, "partial_cancellation",
                       f"{newly_cancelled} item(s) of order {order.number} were cancelled in the store.")
    session.add(order)
    return notes


def _shipped_in_store(session: Session, connection: Connection, order: Order, rows: Iterable[OrderLine],
                      newly_shipped: int, warehouse_shipped: bool) -> int:
    """Apply a store-side shipment to an imported order; notify if the warehouse is on it too."""
    order.status = order_state(((r.quantity, r.quantity_cancelled, r.quantity_shipped) for r in rows), False)
    record_event(session, "order_shipped_in_store", "ok",
                 f"order {order.number}: {newly_shipped} item(s) shipped in the store; now {order.status}",
                 tenant_id=connection.tenant_id, connection_id=connection.id)
    in_flight = order.picked or warehouse_shipped or session.exec(
        select(Shipment.id).where(Shipment.order_id == order.id, Shipment.status == ShipmentStatus.PENDING)
    ).first() is not None
    if not in_flight:
        return 0
    return _note(session, connection, order, "shipped_in_store",
                 f"Order {order.number} was shipped in {connection.name} ({newly_shipped} item(s)) while the "
                 f"warehouse is {'picking' if order.picked else 'shipping'} it: stop the parcel if it would ship "
                 "twice.")


def _note(session: Session, connection: Connection, order: Order, kind: str, message: str) -> int:
    notify(session, kind, message, dedupe_key=f"{kind}:{order.id}", tenant_id=connection.tenant_id,
           connection_id=connection.id)
    return 1


#: an import creating this many orders refreshes the tables' statistics (a first import of a store)
