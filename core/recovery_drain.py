"""Re-driving a recovered backlog in rule R10's order, each connection at its own pace.

Queue priority (``KADE_QUEUE_ORDER``) favours orders over stock over shipments, but idle worker
threads serve every queue at once: a stock push could reach a store before its import fetched a
page, a shipment overtake a stock push the store's rate limit is pacing. So each connection is
drained by one job (``recover_connection``) that runs its phases one after the other: its
import, then its stock, then its shipments and cancellations — never waiting for a slower
store's phase, and with no gap between its own (docs/decisions/recovery-per-connection.md).
The order is that of the store's calls, which share its rate limit: the stock goes out once the
last order page is in hand, while the import stores the pages it fetched
(docs/decisions/recovery-phases-overlap.md). A phase that takes longer than ``settle`` seconds
lets the next one go (a store that stays slow must not hold back the rest for ever).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from kade.app import Kade
from kade.errors import PlatformError
from kade.logs import get_logger
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    Connection,
    ConnectionRuntime,
    ConnectionStatus,
    Event,
    utcnow,
)

if TYPE_CHECKING:
    from kade.jobs import Actors

log = get_logger(__name__)

#: the kinds of action a recovery re-drives, in the order they go out (rule R10)
DRAIN_ORDER = (ActionKind.STOCK, ActionKind.SHIPMENT, ActionKind.CANCEL)
#: how often the phases are looked at
POLL = 0.05


def _import_ended(kade: Kade, connection_id: int, started: datetime) -> bool:
    """Whether an import of this connection since ``started`` has ended (imported or failed), or
    the connection is no longer active (a refused login puts it in ``needs_reauth``)."""
    with kade.db.session() as session:
        checks = (
            select(ConnectionRuntime.connection_id).where(col(ConnectionRuntime.connection_id) == connection_id,
                                                          col(ConnectionRuntime.last_import_at) >= started),
            select(Connection.id).where(col(Connection.id) == connection_id,
                                        col(Connection.status) != ConnectionStatus.ACTIVE),
            select(Event.id).where(  # failed: no use waiting longer
                col(Event.connection_id) == connection_id, col(Event.kind) == "orders_imported",
                col(Event.outcome) == "failed", col(Event.at) >= started).limit(1),
        )
        return any(session.exec(check).first() is not None for check in checks)


def _stock_left(kade: Kade, connection_id: int) -> bool:
    """Whether this connection has stock running (another worker's flush) or pending and due."""
    with kade.db.session() as session:
        return session.exec(select(Action.id).where(
            col(Action.connection_id) == connection_id, col(Action.kind) == ActionKind.STOCK,
            sa.or_(col(Action.status) == ActionStatus.RUNNING,
                   sa.and_(col(Action.status) == ActionStatus.PENDING, col(Action.next_attempt_at) <= utcnow())))
            .limit(1)).first() is not None


def _next_due(kade: Kade, connection_id: int, kind: ActionKind, after: int) -> int | None:
    """The oldest due pending action of this connection and kind past ``after``."""
    with kade.db.session() as session:
        found = session.exec(select(Action.id).where(
            col(Action.connection_id) == connection_id, col(Action.kind) == kind,
            col(Action.status) == ActionStatus.PENDING, col(Action.next_attempt_at) <= utcnow(),
            col(Action.id) > after).order_by(col(Action.id)).limit(1)).first()
    return int(found) if found is not None else None


def drain_connection(kade: Kade, connection_id: int, *, settle: float,
                     more: Callable[[ActionKind, int], object] | None = None,
                     stop: threading.Event | None = None) -> dict[str, int]:
    """One connection's recovery, its phases back to back on one worker thread (rule R10):
    import its orders, push its due stock, then report its shipments and cancellations.

    On one thread the next phase starts the moment the last one ends, with no message and no
    poll between them, so the store's rate limit is what sets the pace. A phase that runs past
    ``settle`` seconds lets the next one go. What fails again waits for its backoff, and the
    sweeper sends it then. ``more(kind, action_id)`` asks another worker to take the next batch
    of a kind while this one waits for the store (the actors' own ``more``), so preparing a
    batch overlaps the request before it instead of adding to it. ``stop`` (the worker process
    is shutting down) ends the drain at the next batch; what it leaves is the sweeper's.
    """
    from kade.executor import run_actions
    from kade.stockpush import flush_stock

    ran = {kind.value: 0 for kind in DRAIN_ORDER}
    started = utcnow()

    def within(since: float) -> bool:  # settle 0: no phase waits for another
        return time.monotonic() - since < settle

    def stopping() -> bool:
        return stop is not None and stop.is_set()

    def next_batch(kind: ActionKind, action_id: int) -> Callable[[], object] | None:
        send = more
        return None if send is None else lambda: send(kind, action_id)

    phase = time.monotonic()
    importer = _Importer(kade, connection_id)
    # The store's next phase waits for the last order page, not for its storing: rule R10
    # orders what the store is sent, and the pages fetched are stored meanwhile.
    if not importer.wait_fetched():
        # coalesced into an import already running (a scheduler poll): wait for that one to end
        while not _import_ended(kade, connection_id, started) and within(phase):
            time.sleep(POLL)
    phase = time.monotonic()
    while not stopping():
        flushed = flush_stock(kade, connection_id, more=next_batch(ActionKind.STOCK, 0))
        ran[ActionKind.STOCK.value] += flushed.pushed + flushed.unchanged + flushed.rejected
        # another worker's flush may hold the rest (claimed): wait for it before the shipments
        if flushed.outcome != "done" or not within(phase) or not _stock_left(kade, connection_id):
            break
        time.sleep(POLL)
    for kind in (ActionKind.SHIPMENT, ActionKind.CANCEL):
        phase = time.monotonic()
        last = 0
        while (not stopping() and (settle <= 0 or within(phase))
               and (first := _next_due(kade, connection_id, kind, last)) is not None):
            outcomes = run_actions(kade, first, kind=kind, limit=kade.settings.action_batch,
                                   more=next_batch(kind, first))
            ran[kind.value] += sum(1 for o in outcomes.values() if o.status not in ("skipped", "waiting"))
            if any(o.status == "waiting" for o in outcomes.values()):
                break  # the connection may not send now (paused, needs_reauth): the sweeper has them
            last = max(outcomes)  # one that failed again waits for its backoff; the cursor moves on
    importer.join()
    return ran


class _Importer:
    """A drain's import, on a thread of its own: it says when its last page is in hand, and
    stores what it fetched while the drain sends the store's next phases."""

    def __init__(self, kade: Kade, connection_id: int) -> None:
        self.kade, self.connection_id = kade, connection_id
        self.fetched = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._run,),
                                        name="kade-recovery-import", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from kade.ingest import import_orders

        try:
            import_orders(self.kade, self.connection_id, fetched=self.fetched.set)
        except PlatformError as exc:  # recorded by the import; the phases after it go on
            log.warning("recovery_import_failed", connection_id=self.connection_id,
                        error=f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            self.error = exc

    def wait_fetched(self) -> bool:
        """Wait until the last page is in hand (True) or the import has ended without it (False:
        it failed, or coalesced into a running one). An import that broke is raised here."""
        while not self.fetched.wait(POLL):
            if not self._thread.is_alive():
                break
        if self.error is not None and not self.fetched.is_set():
            raise self.error
        return self.fetched.is_set()

    def join(self) -> None:
        """Wait for the import to have stored what it fetched; raise what broke it."""
        self._thread.join()
        if self.error is not None:
            raise self.error


class DrainThreads:
    """The recoveries one worker process runs, each on a thread of its own.

    A drain holds its thread for as long as its store's rate limit paces it, seconds to minutes.
    On the worker's own threads that was the trouble: Dramatiq hands a process up to twice its
    threads in messages, so ten ``recover_connection`` jobs landed in one process of eight threads
    while another had threads free, and connections started up to 3.8 s late
    (docs/decisions/recovery-drain-threads.md). Here the job only starts the drain and returns:
    the worker's threads stay free for the batches the drains hand off (``more``) and for every
    other job. At most ``size`` drains run so in a process; see ``run`` for the rest.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="kade-recovery")
        self._running: set[Future[None]] = set()
        self._lock = threading.Lock()
        #: set when the process shuts down: each drain stops at its next batch
        self.stop = threading.Event()

    def run(self, connection_id: int, drain: Callable[[threading.Event], object]) -> bool:
        """Start ``drain(stop)``, one connection's drain, on a thread of its own while fewer than
        ``size`` run (True); otherwise run it here, on the caller's thread (False). A failure is
        logged either way, and the sweeper and the next poll take over.

        Why not queue the rest: the job is acknowledged when this returns, so a queue without
        bound would let the first process to poll take every connection of a large recovery
        while the others idle. Run on the worker's thread, the extra drains hold it as they did
        before, and Dramatiq's prefetch again limits what one process takes.
        """

        def call() -> None:
            try:
                drain(self.stop)
            except Exception:
                log.exception("recovery_failed", connection_id=connection_id,
                              hint="its actions are the sweeper's; the next poll imports its orders")

        with self._lock:
            room = len(self._running) < self.size
            if room:
                future = self._pool.submit(call)
                self._running.add(future)
        if not room:
            call()
            return False
        future.add_done_callback(self._done)
        return True

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every drain started so far; whether none is left."""
        with self._lock:
            running = list(self._running)
        return not wait_for(running, timeout=timeout).not_done

    def close(self, timeout: float = 10.0) -> None:
        """Ask every drain to stop at its next batch, wait ``timeout`` seconds for them, drop the rest."""
        self.stop.set()
        self.wait(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)


def drain(actors: Actors, ids: Sequence[int], *, settle: float) -> None:
    """Ask a worker to drain each connection (``drain_connection``)."""
    for connection_id in ids:
        actors.recover_connection.send(connection_id=connection_id, settle=settle)
