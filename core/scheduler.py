"""The scheduler: order polling, the nightly stock check, the outbox sweep, retention, alerts.

Any number may run; a lease in the database makes exactly one of them act at a time. When the
leader dies its lease runs out and another takes over — polling again early is harmless, since
every job is idempotent.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.eventlog import prune_events
from kade.health import check_alerts
from kade.jobs import Actors
from kade.logs import get_logger
from kade.models import Connection, Lease, utcnow
from kade.outbox import prune_actions
from kade.runstate import mark_scheduled_many, poll_states
from kade.status import RUNNING, SENDING
from kade.sweeper import sweep

log = get_logger(__name__)
LEADER = "scheduler"
#: how often retention looks for expired events and settled actions
RETENTION_EVERY = timedelta(hours=1)
#: expired events, and settled actions, deleted per tick: a backlog goes at this many a second,
#: one short transaction each
RETENTION_BATCH = 5000


def try_lease(session: Session, name: str, holder: str, ttl: float, now: datetime | None = None) -> bool:
    """Take or renew the lease ``name`` for ``holder``; atomic on SQLite and PostgreSQL."""
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl)
    if session.get(Lease, name) is None:
        try:
            with session.begin_nested():
                session.add(Lease(name=name, holder=holder, expires_at=expires))
            return True
        except sa.exc.IntegrityError:
            pass
    result = session.execute(
        sa.update(Lease)
        .where(col(Lease.name) == name, sa.or_(col(Lease.holder) == holder, col(Lease.expires_at) < now))
        .values(holder=holder, expires_at=expires)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def claim_once(session: Session, name: str, holder: str, ttl: float) -> bool:
    """True for the first caller only (until the row expires): once-a-day jobs across leaders."""
    if session.get(Lease, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=utcnow() + timedelta(seconds=ttl)))
        return True
    except sa.exc.IntegrityError:
        return False


@dataclass
class Scheduler:
    kade: Kade
    actors: Actors
    holder: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}")
    lease_ttl: float = 15.0
    stock_check_hour: int = 3
    _retention_due: datetime | None = None

    def is_leader(self) -> bool:
        with self.kade.db.transaction() as session:
            return try_lease(session, LEADER, self.holder, self.lease_ttl)

    def tick(self, now: datetime | None = None) -> bool:
        """One round of work if this scheduler leads; returns whether it did."""
        now = now or utcnow()
        if not self.is_leader():
            return False
        sweep(self.kade, self.actors)
        self._poll_orders(now)
        self._nightly_stock_check(now)
        self._daily_credentials_check(now)
        self._retention(now)
        check_alerts(self.kade)
        return True

    def _poll_orders(self, now: datetime) -> None:
        """Poll each connection when its interval is up, link its products when first seen and
        daily. When each last happened is kept in the database, so a restart or a new leader
        carries on where the last one was instead of polling and re-linking everything at once
        (bol allows only a few offer exports an hour).

        The database returns only the connections that may be due, and one transaction marks them
        all: a tick's statements do not grow with the fleet, nor its rows beyond those due
        (bench_scale.py: 50,000 connections).
        """
        defaults = {name: platform.spec.capabilities.order_poll_interval
                    for name, platform in self.kade.pm.platforms().items()}
        with self.kade.db.session() as session:
            states = poll_states(session, [s.value for s in RUNNING], now, defaults)
        polls: list[int] = []
        links: list[int] = []
        missing: list[int] = []
        skipped: Counter[str] = Counter()
        for state in states:
            default = defaults.get(state.platform)
            if default is None:  # plugin gone: say so (once a tick), keep polling the others
                skipped[state.platform] += 1
                continue
            interval = int(state.interval or default)
            poll = state.last_poll_at is None or (now - state.last_poll_at).total_seconds() >= interval
            # a connection's products are linked when it is first seen, then daily (rule R5/R6)
            products = state.last_products_at is None or now - state.last_products_at >= timedelta(days=1)
            if poll:
                polls.append(state.connection_id)
            if products:
                links.append(state.connection_id)
            if (poll or products) and not state.has_runtime:
                missing.append(state.connection_id)
        for name, count in skipped.items():
            log.error("poll_skipped", platform=name, connections=count, error=f"unknown platform {name!r}")
        if not (polls or links):
            return
        # Marked before sending: a lost message costs one interval, a crash between the two
        # never a burst of repeats.
        with self.kade.db.transaction() as session:
            mark_scheduled_many(session, now, polls=polls, products=links, missing=missing)
        for connection_id in polls:
            self.actors.import_orders.send(connection_id=connection_id)
        for connection_id in links:
            self.actors.link_products.send(connection_id=connection_id)

    def _nightly_stock_check(self, now: datetime) -> None:
        if now.hour != self.stock_check_hour:
            return
        with self.kade.db.transaction() as session:
            if not claim_once(session, f"stock_check:{now.date().isoformat()}", self.holder, 2 * 86400):
                return
            ids = session.exec(
                select(Connection.id).where(col(Connection.status).in_([s.value for s in SENDING]),
                                            Connection.send_stock == sa.true())
            ).all()
        for connection_id in ids:
            self.actors.stock_check.send(connection_id=connection_id)

    def _daily_credentials_check(self, now: datetime) -> None:
        with self.kade.db.transaction() as session:
            if not claim_once(session, f"credentials_check:{now.date().isoformat()}", self.holder, 2 * 86400):
                return
            ids = session.exec(
                select(Connection.id).where(col(Connection.status).in_([s.value for s in RUNNING]))
            ).all()
        for connection_id in ids:
            self.actors.check_credentials.send(connection_id=connection_id)

    def _retention(self, now: datetime) -> None:
        """Hourly: expired events, settled actions and expired leases go. A full batch of either
        means more are expired, and the next tick deletes the next batch, so a backlog never
        holds up a tick."""
        if self._retention_due is not None and now < self._retention_due:
            return
        settings = self.kade.settings
        events_before = now - timedelta(days=settings.event_retention_days)
        actions_before = now - timedelta(days=settings.action_retention_days)
        with self.kade.db.transaction() as session:
            events = prune_events(session, events_before, limit=RETENTION_BATCH)
            actions = prune_actions(session, actions_before, limit=RETENTION_BATCH)
            session.execute(sa.delete(Lease).where(col(Lease.expires_at) < now, col(Lease.name) != LEADER))
        more = events >= RETENTION_BATCH or actions >= RETENTION_BATCH
        self._retention_due = now if more else now + RETENTION_EVERY
        if events:
            log.info("events_pruned", deleted=events, before=events_before.isoformat(), more=more)
        if actions:
            log.info("actions_pruned", deleted=actions, before=actions_before.isoformat(), more=more)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        log.info("scheduler_started", holder=self.holder)
        while not stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # keep scheduling; the error is logged with its cause
                log.error("scheduler_tick_failed", error=f"{type(exc).__name__}: {exc}")
            stop.wait(interval)
