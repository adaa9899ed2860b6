"""The import loop: one import per connection at a time, paging, retries, and the cursor."""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator
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
#: pages a recovery's import may hold fetched ahead of its storing (a poll holds one): the store's
#: next phase goes out once the last page is in hand (docs/decisions/recovery-phases-overlap.md)
FETCH_AHEAD = 16


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


def import_orders(kade: Kade, connection_id: int, *, full: bool = False,
                  fetched: Callable[[], object] | None = None) -> ImportStats:
    """Import every order changed since the connection's cursor (minus the overlap window).

    One import per connection at a time: a call while one runs only asks the running one to go
    once more (``coalesced``). A rejected login moves the connection to ``needs_reauth`` (one
    audited path); any other failure leaves the cursor where it was, so the next poll resumes,
    and is counted: the ``IMPORT_FAILURE_ALERT``-th failure in a row notifies and shows in health.
    ``fetched`` (a recovery drain) is called once the last page is in hand, and then up to
    ``FETCH_AHEAD`` pages are read ahead of the storing instead of one.
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
            total.add(_import_once(kade, connection_id, hold, full=full, fetched=fetched))
            total.runs += 1
            fetched = None  # told once: a run asked for meanwhile is the next poll's work
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


def _import_once(kade: Kade, connection_id: int, hold: _Hold, *, full: bool,
                 fetched: Callable[[], object] | None) -> ImportStats:
    try:
        return _import_orders(kade, connection_id, hold, full=full, fetched=fetched)
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
    """The pages of one import, fetched on a helper thread ahead of their storing.

    The store's answer and the database's are both waits; overlapping them is what a large
    import (or a re-import of unchanged orders) gains most from. At most ``ahead`` fetched pages
    wait in memory while one is stored and the next is on its way; the helper thread is made
    only when there is a second page, so a poll of one page costs nothing extra. A fetch's
    error surfaces where that page is taken, as it did without the overlap. ``fetched`` is
    called once the last page has arrived: a recovery drain sends the store its next phase then,
    while the import stores what it holds (docs/decisions/recovery-phases-overlap.md).
    """

    def __init__(self, platform: Platform, ctx: ConnectionContext, since: datetime | None, *,
                 ahead: int = 1, fetched: Callable[[], object] | None = None) -> None:
        self.platform, self.ctx, self.since = platform, ctx, since
        self._fetched = fetched
        self._pages: queue.Queue[OrderPage | BaseException] = queue.Queue(maxsize=max(1, ahead))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _fetch(self, token: str | None) -> OrderPage:
        return _fetch_page(self.platform, self.ctx, OrderQuery(since=self.since, page_token=token))

    def _last(self) -> None:
        if self._fetched is not None:
            self._fetched()

    def _put(self, item: OrderPage | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fetch_rest(self, token: str) -> None:
        try:
            while not self._stop.is_set():
                page = self._fetch(token)
                if page.next_page_token is None:
                    self._last()
                if not self._put(page) or page.next_page_token is None:
                    return
                token = page.next_page_token
        except BaseException as exc:  # surfaces where its page is taken
            self._put(exc)

    def __iter__(self) -> Iterator[OrderPage]:
        page = self._fetch(None)
        if page.next_page_token is None:
            self._last()
            yield page
            return
        # the plugin's log lines keep the job's bound context on the helper thread
        self._thread = threading.Thread(target=contextvars.copy_context().run,
                                        args=(self._fetch_rest, page.next_page_token),
                                        name="kade-prefetch", daemon=True)
        self._thread.start()
        while True:
            yield page
            if page.next_page_token is None:
                return
            item = self._pages.get()
            if isinstance(item, BaseException):
                raise item
            page = item

    def __enter__(self) -> _Prefetch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


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


def _import_orders(kade: Kade, connection_id: int, hold: _Hold, *, full: bool,
                   fetched: Callable[[], object] | None) -> ImportStats:
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
    with _Prefetch(platform, ctx, since, ahead=FETCH_AHEAD if fetched else 1, fetched=fetched) as pages:
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
