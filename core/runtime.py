"""Running Kade's jobs in a process: the broker, actors and (optionally) worker threads.

The embedded default runs everything inside the ``kade`` process: an in-process broker with
worker threads, and a sweeper tick that picks up actions other processes committed (the CLI
writes to the same database). With Redis, ``kade worker`` runs Dramatiq's own worker processes
and ``kade scheduler`` sweeps; this class then only sends messages.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import dramatiq
import sqlalchemy as sa
from sqlmodel import col, func, select

from kade.app import Kade
from kade.batchmarks import batch_marks
from kade.jobs import QUEUES, Actors, declare_actors, make_broker
from kade.models import Action, ActionStatus, Connection, utcnow
from kade.outbox import Fresh
from kade.status import SENDING
from kade.sweeper import SweepStats, dispatch, send_fresh, sweep


class Runtime:
    """A broker with Kade's actors, for one ``Kade`` app."""

    def __init__(self, kade: Kade, broker: dramatiq.Broker | None = None) -> None:
        self.kade = kade
        self.broker = broker or make_broker(kade.settings)
        self.actors: Actors = declare_actors(self.broker, lambda: kade, kade.settings)
        self.worker: dramatiq.Worker | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    # -- sending ------------------------------------------------------------------------------

    def dispatch(self, action_ids: list[int]) -> int:
        return dispatch(self.kade, self.actors, action_ids)

    def send_on_commit(self) -> Runtime:
        """From now on, outbox actions this process creates are sent when their transaction
        commits (marked sent in it), not at the next sweep. Processes with a broker do this:
        the workers, ``kade serve``; a CLI command without one leaves them to the sweeper."""
        self.kade.db.after_commit_handler = self._send_fresh
        return self

    @property
    def sends_on_commit(self) -> bool:
        return self.kade.db.after_commit_handler == self._send_fresh

    def _send_fresh(self, items: list[Fresh]) -> None:
        send_fresh(self.actors, items, batch_marks(self.kade, self.broker))

    def sweep(self, lease: float | None = None) -> SweepStats:
        return sweep(self.kade, self.actors, lease=lease)

    def import_orders(self, connection_id: int) -> None:
        self.actors.import_orders.send(connection_id=connection_id)

    # -- in-process workers -------------------------------------------------------------------

    def start(self, threads: int = 4, tick: float | None = None) -> Runtime:
        """Start worker threads and a sweeper tick (the embedded mode)."""
        self.broker.emit_after("process_boot")
        self.worker = dramatiq.Worker(self.broker, worker_threads=threads, worker_timeout=100)
        self.worker.start()
        interval = self.kade.settings.embedded_tick if tick is None else tick
        if interval > 0:
            self._ticker = threading.Thread(target=self._tick, args=(interval,), daemon=True, name="kade-sweeper")
            self._ticker.start()
        return self

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception as exc:  # a failed sweep must not end the loop; it is logged
                from kade.logs import get_logger

                get_logger(__name__).error("sweep_failed", error=str(exc))

    def stop(self) -> None:
        if self.sends_on_commit:
            self.kade.db.after_commit_handler = None
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=10)
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        self.broker.close()

    def join(self, timeout: float = 30.0) -> None:
        """Wait until every queue is empty and no in-flight job or recovery drain remains (tests,
        the demo). A drain hands batches to the queues while it runs: they are joined again after it."""
        deadline = time.monotonic() + timeout
        while True:
            for queue in QUEUES:
                if queue in self.broker.get_declared_queues():
                    remaining = max(1, int((deadline - time.monotonic()) * 1000))
                    self.broker.join(queue, timeout=remaining)
            if self.worker is not None:
                self.worker.join()
            if self.kade.wait_for_drains(0):
                return
            if not self.kade.wait_for_drains(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"recovery drains still running after {timeout}s")

    def drain(self, timeout: float = 30.0, horizon: float | None = None) -> None:
        """Sweep and join until no action is due within ``horizon`` seconds and none runs.

        Polls the database with a deadline; raises ``TimeoutError`` naming what is left.
        """
        horizon = self.kade.settings.stock_window + 0.5 if horizon is None else horizon
        deadline = time.monotonic() + timeout
        while True:
            self.sweep()
            self.join(timeout=max(0.1, deadline - time.monotonic()))
            left = self.outstanding(horizon)
            if left == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{left} action(s) still pending or running after {timeout}s")
            time.sleep(0.02)

    def outstanding(self, horizon: float = 0.0) -> int:
        from datetime import timedelta

        limit = utcnow() + timedelta(seconds=horizon)
        with self.kade.db.session() as session:
            # Actions of connections that may not send (paused, needs_reauth) wait by design.
            count: Any = session.exec(
                select(func.count()).select_from(Action)
                .outerjoin(Connection, col(Connection.id) == col(Action.connection_id))
                .where(
                    # deliveries to the warehouse or a person need no connection
                    sa.or_(col(Action.connection_id).is_(None), col(Connection.status).in_([s.value for s in SENDING])),
                    (col(Action.status) == ActionStatus.RUNNING)
                    | ((col(Action.status) == ActionStatus.PENDING) & (col(Action.next_attempt_at) <= limit)),
                )
            ).one()
        return int(count)

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
