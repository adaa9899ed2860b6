"""The import loop: one import per connection at a time, paging, retries, and the cursor."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col

from kade.app import Kade
from kade.audit import record_event
from kade.boundary import scrub
from kade.db import refresh_statistics
from kade.errors import AuthRejected, RateLimited, TransientError
from kade.ingest.apply import _quarantine, apply_page
from kade.ingest.stats import ImportStats
from kade.logs import get_logger
from kade.manager import Platform
from kade.models import (
    Connection,
    ConnectionStatus,
    utcnow,
)
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
    RejectedRecord,
)

log = get_logger("kade.ingest")


BULK_ANALYZE = 2000
#: a first import that has written this many orders refreshes the statistics once on its way: a
#: planner that still believes the table empty scans it whole for every page's look-up, which
#: made each page cost more than the last
EARLY_ANALYZE = 1000
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
        before = total.created
        total.add(stats)
        if before < EARLY_ANALYZE <= total.created:
            with kade.db.transaction() as session:
                refresh_statistics(session, "orders", "order_lines")
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
