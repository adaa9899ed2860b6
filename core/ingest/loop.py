"""The import loop: one import per connection at a time, paging, retries, and the cursor."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from kade.app import Kade
from kade.audit import record_event
from kade.boundary import scrub
from kade.db import BULK_ANALYZE, refresh_statistics
from kade.errors import AuthRejected, RateLimited, TransientError
from kade.ingest.apply import _quarantine, apply_page, unchanged_page
from kade.ingest.stats import ImportStats
from kade.logs import get_logger
from kade.manager import Platform
from kade.models import (
    Connection,
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
from kade.status import login_rejected
from kade.types import (
    ConnectionContext,
    OrderPage,
    OrderQuery,
    RejectedRecord,
)

log = get_logger("kade.ingest")

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
    lease = kade.settings.import_lease
    hold = _Hold(new_holder(), lease)
    with kade.db.transaction() as session:
        if not acquire_import(session, connection_id, hold.holder, lease):
            return ImportStats(coalesced=True)
    hold.renewed = time.monotonic()
    total = ImportStats()
    try:
        while True:
            total.add(_import_once(kade, connection_id, hold, full=full))
            total.runs += 1
            with kade.db.transaction() as session:
                if not finish_import(session, connection_id, hold.holder, lease):
                    return total
            hold.renewed = time.monotonic()
            full = False  # the run asked for meanwhile picks up from the cursor
    except BaseException:
        with kade.db.transaction() as session:
            release_import(session, connection_id, hold.holder)
        raise


@dataclass
class _Hold:
    """This import's lock on its connection. The lease is renewed once a third of it has passed,
    not for every page: until it runs out nobody else can take the lock, so a page written
    while it is fresh is still ours — one statement fewer per page of a re-import."""

    holder: str
    ttl: float
    renewed: float = 0.0

    def fresh(self) -> bool:
        """Whether the lease needs no renewal now (a page may be read without a transaction)."""
        return time.monotonic() - self.renewed < self.ttl / 3

    def keep(self, session: Session, connection_id: int) -> bool:
        if self.fresh():
            return True
        if not renew_import(session, connection_id, self.holder, self.ttl):
            return False
        self.renewed = time.monotonic()
        return True


def _import_once(kade: Kade, connection_id: int, hold: _Hold, *, full: bool) -> ImportStats:
    try:
        return _import_orders(kade, connection_id, hold, full=full)
    except AuthRejected as exc:
        with kade.db.transaction() as session:
            conn = session.get(Connection, connection_id)
            assert conn is not None
            login_rejected(session, conn, exc)
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


class _Prefetch:
    """The pages of one import, each fetched while the page before it is being stored.

    The store's answer and the database's are both waits; overlapping them is what a large
    import (or a re-import of unchanged orders) gains most from. One page ahead at most, on one
    helper thread made only when there is a second page, so a poll of one page costs nothing
    extra. A fetch's error surfaces where that page is taken, as it did without the overlap.
    """

    def __init__(self, platform: Platform, ctx: ConnectionContext, since: datetime | None) -> None:
        self.platform, self.ctx, self.since = platform, ctx, since
        self._pool: ThreadPoolExecutor | None = None

    def _fetch(self, token: str | None) -> OrderPage:
        return _fetch_page(self.platform, self.ctx, OrderQuery(since=self.since, page_token=token))

    def __iter__(self) -> Iterator[OrderPage]:
        page = self._fetch(None)
        while True:
            ahead: Future[OrderPage] | None = None
            if page.next_page_token is not None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kade-prefetch")
                # the plugin's log lines keep the job's bound context on the helper thread
                ahead = self._pool.submit(contextvars.copy_context().run, self._fetch, page.next_page_token)
            yield page
            if ahead is None:
                return
            page = ahead.result()

    def __enter__(self) -> _Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _store_page(kade: Kade, connection: Connection, hold: _Hold, page: OrderPage,
                product_cache: dict[tuple[str | None, str | None], int | None], *,
                quick: bool = True) -> ImportStats | None:
    """Apply a page in one transaction; None when the import lock was lost to another worker.
    With ``quick``, a page with nothing to write is found so in one read, without a transaction.

    ``connection`` is the row as the import loaded it: a page reads only what does not change
    while an import runs (ids, name, matching settings), and saves a look-up per page."""
    connection_id = connection.id or 0
    try:
        if quick and hold.fresh() and not page.rejected:
            # a re-import's usual page: nothing changed, so one read and no transaction
            with kade.db.reading() as db:
                same = unchanged_page(db, connection, page.orders)
            if same is not None:
                return same
        with kade.db.transaction() as session:
            if not hold.keep(session, connection_id):
                return None
            return apply_page(session, connection, page.orders, page.rejected, product_cache)
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


def _import_orders(kade: Kade, connection_id: int, hold: _Hold, *, full: bool) -> ImportStats:
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
    with _Prefetch(platform, ctx, since) as pages:
        quick = True  # after a page of new orders, the next is likely new too: no read first
        for page in pages:
            stats = _store_page(kade, connection, hold, page, product_cache, quick=quick)
            if stats is None:
                log.warning("import_lock_lost", connection_id=connection_id)
                return total
            quick = stats.created == 0
            before = total.created
            total.add(stats)
            if before < EARLY_ANALYZE <= total.created:
                with kade.db.transaction() as session:
                    refresh_statistics(session, "orders", "order_lines")
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
        import_succeeded(session, conn)  # notes when: an empty poll leaves no event (docs/scaling.md)
        if total.changed_anything:
            record_event(
                session, "orders_imported", "ok",
                f"{total.created} new, {total.updated} changed, {total.unchanged} unchanged, {total.ignored} "
                f"ignored (fulfilled by the marketplace), {total.quarantined} quarantined",
                tenant_id=connection.tenant_id, connection_id=connection_id,
                data={"created": total.created, "updated": total.updated, "quarantined": total.quarantined,
                      "ignored": total.ignored, "pages": total.pages},
            )
    return total
