"""Order import: the one ingest path for polling and webhooks.

Each page is applied in one transaction. Orders upsert on (connection, remote id), so a page
imported twice changes nothing; an order whose remote ``updated_at`` did not move is skipped
without touching its rows. Rules applied here: R1 (origin recorded once), R2 (marketplace
fulfilled lines dropped), R3 (store-side cancellations), R6 (product matching / auto-import),
and principle 7 (a malformed order is quarantined; the rest of its page imports).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import notify, record_event
from kade.boundary import check_order, fit, scrub
from kade.db import refresh_statistics
from kade.errors import AuthRejected, RateLimited, TransientError
from kade.logs import get_logger
from kade.manager import Platform
from kade.models import (
    Connection,
    ConnectionStatus,
    Order,
    OrderLine,
    OrderState,
    Product,
    ProductLink,
    Shipment,
    ShipmentStatus,
    jsonable,
    utcnow,
)
from kade.outbound import emit, emit_many, order_event
from kade.products import find_or_create_product
from kade.quarantine import quarantine
from kade.runstate import (
    acquire_import,
    finish_import,
    import_failed,
    import_succeeded,
    new_holder,
    release_import,
    renew_import,
)
from kade.status import change_status
from kade.types import (
    ConnectionContext,
    OrderPage,
    OrderQuery,
    OrderStatus,
    RejectedRecord,
    RemoteOrder,
    RemoteOrderLine,
)

log = get_logger(__name__)


@dataclass
class ImportStats:
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    quarantined: int = 0
    cancelled: int = 0
    products_created: int = 0
    notifications: int = 0
    #: skipped because the connection this one replaces imported them (rule R9)
    already_imported: int = 0
    newest: datetime | None = None
    errors: list[str] = field(default_factory=list)
    #: the call found an import running and asked it to run once more instead
    coalesced: bool = False
    #: imports this call ran (more than one when requests came in meanwhile)
    runs: int = 0

    def add(self, other: ImportStats) -> None:
        for name in ("pages", "created", "updated", "unchanged", "ignored", "quarantined", "cancelled",
                     "products_created", "notifications", "already_imported"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.errors.extend(other.errors)


def digest(order: RemoteOrder) -> str:
    """A fingerprint of everything the core applies from an order.

    Timestamps alone can't tell a change apart (some stores give whole seconds, some none), so
    re-imports compare this instead: equal digests are skipped without touching a row.
    """
    parts = [order.status.value, str(order.cancellation_requested), order.updated_at.isoformat()]
    # A store-side shipped quantity joins only when there is one, so digests of orders without
    # one stay what earlier releases stored (no mass re-apply after an upgrade).
    parts += [f"{li.remote_line_id}:{li.quantity}:{li.quantity_cancelled}:{li.fulfilled_by_marketplace}"
              + (f":s{li.quantity_shipped}" if li.quantity_shipped else "")
              for li in order.lines]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def validate_order(order: RemoteOrder) -> str | None:
    """Reasons the core refuses an order the plugin could translate; None when it is fine."""
    if not order.lines:
        return "order has no lines"
    seen: set[str] = set()
    for line in order.lines:
        if line.remote_line_id in seen:
            return f"line id {line.remote_line_id!r} appears twice"
        seen.add(line.remote_line_id)
        if line.quantity_cancelled > line.quantity:
            return f"line {line.remote_line_id}: cancelled quantity {line.quantity_cancelled} > {line.quantity}"
        if not (line.sku or line.ean or line.remote_product_id):
            return f"line {line.remote_line_id} has neither SKU, barcode nor product id"
    return None


def store_shipped(order: RemoteOrder, line: RemoteOrderLine) -> int:
    """How much of ``line`` the store says has left already (never more than is not cancelled).

    An order the store reports shipped/completed counts as fully shipped even when the plugin
    has no per-line figure (WooCommerce ``completed``).
    """
    shippable = max(0, line.quantity - line.quantity_cancelled)
    if order.status == OrderStatus.SHIPPED:
        return shippable
    return min(line.quantity_shipped, shippable)


def order_state(lines: Iterable[tuple[int, int, int]], cancelled: bool) -> OrderState:
    """Kade's state of an order from its lines' (quantity, cancelled, shipped)."""
    rows = list(lines)
    if cancelled or all(c >= q for q, c, _ in rows):
        return OrderState.CANCELLED
    if all(c + s >= q for q, c, s in rows):
        return OrderState.SHIPPED
    if any(s for _, _, s in rows):
        return OrderState.PARTIALLY_SHIPPED
    return OrderState.OPEN


def _quarantine(session: Session, connection: Connection, rejected: RejectedRecord, stats: ImportStats) -> None:
    quarantine(session, connection, "order", rejected)
    stats.quarantined += 1


class ProductResolver:
    """Finds (and, when allowed, creates) the warehouse product of an order line (rule R6).

    ``prefetch`` answers a whole page with a few set queries; the cache lives for one import
    run, so a product seen on page one costs nothing on page fifty.
    """

    def __init__(self, session: Session, connection: Connection,
                 cache: dict[tuple[str | None, str | None], int | None] | None = None) -> None:
        self.session = session
        self.connection = connection
        self.order = str(connection.settings.get("product_match", "sku_first"))
        self.auto_import = bool(connection.settings.get("import_products", True))
        self._cache = cache if cache is not None else {}
        self._linked: set[str] = set()
        self.created = 0

    def prefetch(self, lines: Iterable[RemoteOrderLine]) -> None:
        lines = list(lines)
        pairs = {(li.sku, li.ean) for li in lines} - set(self._cache)
        skus = {sku for sku, _ in pairs if sku}
        eans = {ean for _, ean in pairs if ean}
        tenant = self.connection.tenant_id
        by_sku: dict[str, int] = {}
        by_ean: dict[str, int] = {}
        if skus:
            for pid, found_sku in self.session.exec(select(Product.id, Product.sku).where(
                    Product.tenant_id == tenant, col(Product.sku).in_(skus)).order_by(col(Product.id))).all():
                by_sku.setdefault(found_sku, pid or 0)
        if eans:
            for pid, found_ean in self.session.exec(select(Product.id, Product.ean).where(
                    Product.tenant_id == tenant, col(Product.ean).in_(eans)).order_by(col(Product.id))).all():
                if found_ean is not None:
                    by_ean.setdefault(found_ean, pid or 0)
        for sku, ean in pairs:
            first = by_sku.get(sku or "") if self.order == "sku_first" else by_ean.get(ean or "")
            second = by_ean.get(ean or "") if self.order == "sku_first" else by_sku.get(sku or "")
            if first or second:
                self._cache[(sku, ean)] = first or second
        remote_ids = {li.remote_product_id for li in lines if li.remote_product_id} - self._linked
        if remote_ids:
            self._linked.update(rid for rid in self.session.exec(select(ProductLink.remote_id).where(
                ProductLink.connection_id == self.connection.id, col(ProductLink.remote_id).in_(remote_ids))).all()
                if rid is not None)

    def resolve(self, line: RemoteOrderLine) -> int | None:
        key = (line.sku, line.ean)
        if key in self._cache:
            product_id = self._cache[key]
        else:
            product_id = self._find_or_create(line)
            self._cache[key] = product_id
        if product_id is not None and line.remote_product_id and line.remote_product_id not in self._linked:
            self._link(product_id, line)
        return product_id

    def _find_or_create(self, line: RemoteOrderLine) -> int | None:
        product, created = find_or_create_product(
            self.session, self.connection.tenant_id, line.sku, line.ean, name=line.name, price=line.unit_price,
            order=self.order, create=self.auto_import)
        if created:
            assert product is not None
            self.created += 1
            record_event(self.session, "product_auto_imported", "ok",
                         f"{product.sku} ({product.name}) created from an order line",
                         tenant_id=self.connection.tenant_id, connection_id=self.connection.id)
        return product.id if product is not None else None

    def _link(self, product_id: int, line: RemoteOrderLine) -> None:
        assert line.remote_product_id is not None and self.connection.id is not None
        exists = self.session.exec(
            select(ProductLink.id).where(ProductLink.connection_id == self.connection.id,
                                         ProductLink.remote_id == line.remote_product_id)
        ).first()
        if exists is None:
            self.session.add(ProductLink(connection_id=self.connection.id, product_id=product_id,
                                         remote_id=line.remote_product_id, remote_sku=line.sku,
                                         remote_ean=line.ean))
        self._linked.add(line.remote_product_id)


def apply_page(
    session: Session, connection: Connection, orders: Iterable[RemoteOrder], rejected: Iterable[RejectedRecord],
    product_cache: dict[tuple[str | None, str | None], int | None] | None = None,
) -> ImportStats:
    """Upsert one page of orders for ``connection`` inside the caller's transaction."""
    assert connection.id is not None
    stats = ImportStats(pages=1)
    for record in rejected:
        _quarantine(session, connection, record, stats)
    incoming: dict[str, RemoteOrder] = {}
    for order in orders:
        reason = check_order(order) or validate_order(order)
        if reason is not None:
            _quarantine(session, connection, RejectedRecord(remote_id=order.remote_id, reason=reason,
                                                            raw=order.raw), stats)
            continue
        order = fit(order)
        incoming[order.remote_id] = order  # a page repeating an order: the last copy wins
        if stats.newest is None or order.updated_at > stats.newest:
            stats.newest = order.updated_at
    if not incoming:
        return stats
    # Only ids and fingerprints: a re-import of unchanged orders never loads their payloads.
    existing: dict[str, tuple[int, str]] = {
        remote_id: (order_id or 0, fingerprint)
        for order_id, remote_id, fingerprint in session.exec(
            select(Order.id, Order.remote_id, Order.remote_digest)
            .where(Order.connection_id == connection.id, col(Order.remote_id).in_(list(incoming)))
        ).all()
    }
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
        if local is not None and local[1] == fingerprint:
            stats.unchanged += 1
        elif local is None:
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
                            remote.status == OrderStatus.CANCELLED)
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
    result = session.connection().execute(
        orders_table.insert().returning(orders_table.c.id, orders_table.c.remote_id), rows
    )
    ids = {remote_id: order_id for order_id, remote_id in result.all()}
    line_rows = [
        {"order_id": ids[remote.remote_id], "remote_line_id": line.remote_line_id,
         "product_id": resolver.resolve(line), "sku": line.sku, "ean": line.ean, "name": line.name,
         "quantity": line.quantity, "quantity_shipped": store_shipped(remote, line),
         "quantity_cancelled": line.quantity_cancelled, "unit_price": line.unit_price,
         "fulfilled_by_marketplace": False}
        for remote, lines, _ in fresh
        for line in lines
    ]
    if line_rows:
        session.connection().execute(lines_table.insert(), line_rows)
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
    fully = remote.status == OrderStatus.CANCELLED or (
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
BULK_ANALYZE = 2000
#: the longest a page fetch waits for a store's Retry-After before giving the job up
MAX_RATE_WAIT = 60.0
PAGE_RETRIES = 3


def _fetch_page(platform: Platform, ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
    """One page, honouring Retry-After and retrying transient failures a few times."""
    failures = 0
    while True:
        try:
            return platform.import_orders(ctx, query)
        except RateLimited as exc:
            if exc.retry_after > MAX_RATE_WAIT:
                raise
            time.sleep(exc.retry_after)
        except TransientError:
            failures += 1
            if failures >= PAGE_RETRIES:
                raise
            time.sleep(min(MAX_RATE_WAIT, 0.5 * 2**failures))


def import_orders(kade: Kade, connection_id: int, *, full: bool = False) -> ImportStats:
    """Import every order changed since the connection's cursor (minus the overlap window).

    One import per connection at a time: a call while one runs only asks the running one to go
    once more (``coalesced``). A rejected login moves the connection to ``needs_reauth`` (one
    audited path); any other failure leaves the cursor where it was, so the next poll resumes,
    and is counted: the ``IMPORT_FAILURE_ALERT``-th failure in a row notifies and shows in health.
    """
    holder = new_holder()
    lease = kade.settings.import_lease
    with kade.db.transaction() as session:
        if not acquire_import(session, connection_id, holder, lease):
            return ImportStats(coalesced=True)
    total = ImportStats()
    try:
        while True:
            total.add(_import_once(kade, connection_id, holder, full=full))
            total.runs += 1
            with kade.db.transaction() as session:
                if not finish_import(session, connection_id, holder, lease):
                    return total
            full = False  # the run asked for meanwhile picks up from the cursor
    except BaseException:
        with kade.db.transaction() as session:
            release_import(session, connection_id, holder)
        raise


def _import_once(kade: Kade, connection_id: int, holder: str, *, full: bool) -> ImportStats:
    try:
        return _import_orders(kade, connection_id, holder, full=full)
    except AuthRejected as exc:
        with kade.db.transaction() as session:
            conn = session.get(Connection, connection_id)
            assert conn is not None
            change_status(session, conn, ConnectionStatus.NEEDS_REAUTH, reason=str(exc) or "auth rejected",
                          actor="worker")
        stats = ImportStats()
        stats.errors.append(str(exc))
        return stats
    except Exception as exc:
        reason = scrub(f"{type(exc).__name__}: {exc}")
        with kade.db.transaction() as session:
            conn = session.get(Connection, connection_id)
            if conn is not None:
                import_failed(session, conn, reason)
        raise


def _store_page(kade: Kade, connection_id: int, holder: str, page: OrderPage,
                product_cache: dict[tuple[str | None, str | None], int | None]) -> ImportStats | None:
    """Apply a page in one transaction; None when the import lock was lost to another worker."""
    try:
        with kade.db.transaction() as session:
            if not renew_import(session, connection_id, holder, kade.settings.import_lease):
                return None
            conn = session.get(Connection, connection_id)
            assert conn is not None
            return apply_page(session, conn, page.orders, page.rejected, product_cache)
    except Exception as exc:
        # The checks missed something the database refused: save order by order, so one
        # record can only ever cost itself.
        log.warning("orders_page_fallback", connection_id=connection_id, error=f"{type(exc).__name__}: {exc}")
        product_cache.clear()
        return _store_each(kade, connection_id, page, product_cache, exc)


def _store_each(kade: Kade, connection_id: int, page: OrderPage,
                product_cache: dict[tuple[str | None, str | None], int | None], cause: Exception) -> ImportStats:
    stats = ImportStats(pages=1)
    with kade.db.transaction() as session:
        conn = session.get(Connection, connection_id)
        assert conn is not None
        for rejected in page.rejected:
            with session.begin_nested():
                _quarantine(session, conn, rejected, stats)
        for order in page.orders:
            cache = dict(product_cache)
            try:
                with session.begin_nested():
                    one = apply_page(session, conn, [order], [], cache)
            except Exception as exc:
                text = str(exc).splitlines()[0] if str(exc) else ""
                with session.begin_nested():
                    _quarantine(session, conn, RejectedRecord(
                        remote_id=order.remote_id, reason=f"could not be stored: {type(exc).__name__}: {text}"[:2000],
                        raw=order.raw), stats)
                continue
            one.pages = 0
            stats.add(one)
            product_cache.update(cache)
        record_event(session, "orders_page_fallback", "warning",
                     f"a page failed to store ({type(cause).__name__}); saved order by order, "
                     f"{stats.quarantined} quarantined", tenant_id=conn.tenant_id, connection_id=connection_id)
    return stats


def _import_orders(kade: Kade, connection_id: int, holder: str, *, full: bool) -> ImportStats:
    connection = kade.load_connection(connection_id)
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    # The cursor never passes the moment this fetch started (plus the skew allowed): an order
    # dated in the future must not hide every order placed before that date.
    ceiling = utcnow() + timedelta(seconds=kade.settings.order_clock_skew)
    since = None
    if connection.order_cursor is not None and not full:
        since = min(connection.order_cursor, ceiling) - timedelta(seconds=kade.settings.order_overlap)
    total = ImportStats()
    product_cache: dict[tuple[str | None, str | None], int | None] = {}
    token: str | None = None
    while True:
        page = _fetch_page(platform, ctx, OrderQuery(since=since, page_token=token))
        stats = _store_page(kade, connection_id, holder, page, product_cache)
        if stats is None:
            log.warning("import_lock_lost", connection_id=connection_id)
            return total
        total.add(stats)
        if page.next_page_token is None:
            break
        token = page.next_page_token
    with kade.db.transaction() as session:
        if total.created >= BULK_ANALYZE:
            refresh_statistics(session, "orders", "order_lines")
        cursor = total.newest
        if cursor is not None and cursor > ceiling:
            record_event(session, "order_clock_ahead", "warning",
                         f"an order is dated {cursor.isoformat()}, ahead of Kade's clock; the cursor stops at "
                         f"{ceiling.isoformat()}", tenant_id=connection.tenant_id, connection_id=connection_id)
            cursor = ceiling
        if cursor is not None:
            # Only move forward; a cursor is never set from an older page.
            session.execute(
                sa.update(Connection)
                .where(col(Connection.id) == connection_id)
                .where(sa.or_(col(Connection.order_cursor).is_(None), col(Connection.order_cursor) < cursor))
                .values(order_cursor=cursor)
            )
        if connection.order_cursor is not None and connection.order_cursor > ceiling:
            # An earlier release let a future date into the cursor: pull it back to now.
            session.execute(sa.update(Connection).where(col(Connection.id) == connection_id)
                            .where(col(Connection.order_cursor) > ceiling).values(order_cursor=cursor or ceiling))
        conn = session.get(Connection, connection_id)
        assert conn is not None
        import_succeeded(session, conn)
        record_event(
            session, "orders_imported", "ok",
            f"{total.created} new, {total.updated} changed, {total.unchanged} unchanged, {total.ignored} ignored "
            f"(fulfilled by the marketplace), {total.quarantined} quarantined",
            tenant_id=connection.tenant_id, connection_id=connection_id,
            data={"created": total.created, "updated": total.updated, "quarantined": total.quarantined,
                  "ignored": total.ignored, "pages": total.pages},
        )
    return total
