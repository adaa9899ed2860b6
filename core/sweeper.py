"""The sweeper: re-drives what the broker lost (principle 2).

A message can vanish — Redis flushed, a worker killed mid-job, a process that committed and
died before sending. The sweeper finds actions that are due but not in flight and sends them
again; an action stuck ``running`` past its lease (its worker died) goes back to ``pending``
and loses its claim, so the old worker, should it still be alive, can no longer write to it.
Live workers renew their claims while their calls run (``executor.KeepClaimed``).
Sending twice is harmless: a message only asks a worker to *claim* an action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlmodel import col, select

from kade.app import Kade
from kade.batchmarks import BATCHED_KINDS, MARK_TTL, BatchMarks, mark_key
from kade.db import bookkeeping
from kade.logs import get_logger
from kade.models import Action, ActionKind, ActionStatus, Connection, utcnow
from kade.outbox import Fresh
from kade.status import RUNNING, SENDING

if TYPE_CHECKING:
    from kade.jobs import Actors

log = get_logger(__name__)
BATCH = 5000


@dataclass
class SweepStats:
    reclaimed: int = 0
    actions_sent: int = 0
    stock_flushes: int = 0


def may_run() -> sa.ColumnElement[bool]:
    """Actions run for connections that may send; an order import also for a new connection; those
    that need no connection (webhooks to the warehouse, alerts) always (join connections outer)."""
    return sa.or_(
        col(Action.connection_id).is_(None),
        col(Connection.status).in_([s.value for s in SENDING]),
        sa.and_(col(Action.kind) == ActionKind.IMPORT_ORDERS, col(Connection.status).in_([s.value for s in RUNNING])),
    )


def sweep(kade: Kade, actors: Actors, *, lease: float | None = None) -> SweepStats:
    """Re-drive stale and unsent actions of connections that may send."""
    stats = SweepStats()
    lease = kade.settings.sweep_after if lease is None else lease
    now = utcnow()
    stale = now - timedelta(seconds=lease)
    # Rows are locked with SKIP LOCKED before they are updated: the sweeper never waits on a
    # transaction that holds an action (a stock change deciding to reuse it, a claiming worker),
    # so it can take part in no deadlock; what it skips, the next sweep sees.
    with kade.db.transaction() as session:
        stuck = session.exec(
            select(Action.id)
            .where(col(Action.status) == ActionStatus.RUNNING, col(Action.updated_at) < stale)
            .with_for_update(skip_locked=True)
        ).all()
        if stuck:
            session.execute(sa.update(Action).where(col(Action.id).in_(stuck))
                            .values(status=ActionStatus.PENDING, enqueued_at=None, updated_at=now, claimed_by=None))
        stats.reclaimed = len(stuck)
        rows = session.exec(
            select(Action.id, Action.kind, Action.connection_id)
            .outerjoin(Connection, col(Connection.id) == col(Action.connection_id))
            .where(
                col(Action.status) == ActionStatus.PENDING,
                col(Action.next_attempt_at) <= now,
                sa.or_(col(Action.enqueued_at).is_(None), col(Action.enqueued_at) < stale),
                may_run(),
            )
            .order_by(col(Action.id))
            .limit(BATCH)
            .with_for_update(skip_locked=True, of=Action)
        ).all()
        ids = [row[0] for row in rows]
        if ids:
            session.execute(sa.update(Action).where(col(Action.id).in_(ids)).values(enqueued_at=now))
    send_fresh(actors, [Fresh(ActionKind(kind), conn, now, action_id) for action_id, kind, conn in rows])
    stats.actions_sent = sum(1 for _, kind, _ in rows if kind != ActionKind.STOCK)
    stats.stock_flushes = len({conn for _, kind, conn in rows if kind == ActionKind.STOCK and conn is not None})
    if stats.reclaimed or stats.actions_sent or stats.stock_flushes:
        log.info("sweep", reclaimed=stats.reclaimed, actions=stats.actions_sent, stock_flushes=stats.stock_flushes)
    return stats


def dispatch(kade: Kade, actors: Actors, action_ids: list[int]) -> int:
    """Send messages for freshly committed actions right away (the sweeper is the safety net).

    Stock actions become one delayed ``flush_stock`` per connection, timed for the end of their
    coalescing window; other actions are sent as they are.
    """
    if not action_ids:
        return 0
    now = utcnow()
    with kade.db.transaction() as session:
        bookkeeping(session)
        rows = session.exec(
            select(Action.id, Action.kind, Action.connection_id, Action.next_attempt_at)
            .outerjoin(Connection, col(Connection.id) == col(Action.connection_id))
            .where(col(Action.id).in_(action_ids), col(Action.status) == ActionStatus.PENDING, may_run())
            .with_for_update(skip_locked=True, of=Action)
        ).all()
        if rows:
            session.execute(sa.update(Action).where(col(Action.id).in_([r[0] for r in rows])).values(enqueued_at=now))
    send_fresh(actors, [Fresh(ActionKind(kind), connection_id, due, action_id)
                        for action_id, kind, connection_id, due in rows])
    return len(rows)


def send_fresh(actors: Actors, items: list[Fresh], marks: BatchMarks | None = None) -> None:
    """Send what a transaction just created and marked sent (``kade.db.after_commit``).

    No database work: the rows were marked in the transaction that made them, which saves the
    second transaction ``dispatch`` needs. A process that dies between the commit and this
    send leaves them to the sweeper, which re-sends marks older than ``KADE_SWEEP_AFTER``.
    Batched kinds due now go as one message per connection and kind — and with ``marks``, only
    when none is queued already (``kade.batchmarks``); the sweeper passes no marks: it sends.
    """
    now = utcnow()
    flushes: dict[int, int] = {}
    batches: dict[tuple[str, int], int] = {}
    for item in items:
        delay_ms = max(0, int((item.due - now).total_seconds() * 1000))
        if item.kind == ActionKind.STOCK and item.connection_id is not None:
            flushes[item.connection_id] = max(flushes.get(item.connection_id, 0), delay_ms)
        elif (item.kind in BATCHED_KINDS and item.connection_id is not None and item.action_id is not None
              and delay_ms == 0):
            group = (str(item.kind), item.connection_id)
            batches[group] = min(batches.get(group, item.action_id), item.action_id)
        elif item.action_id is not None:
            actors.for_kind(item.kind).send_with_options(kwargs={"action_id": item.action_id},
                                                         delay=delay_ms or None)
    for connection_id, delay_ms in flushes.items():
        actors.flush_stock.send_with_options(kwargs={"connection_id": connection_id}, delay=delay_ms or None)
    for (kind, connection_id), action_id in batches.items():
        key = mark_key(kind, connection_id)
        if marks is not None and not marks.mark(key, MARK_TTL):
            continue  # a message for this connection and kind is queued; its worker takes this one too
        try:
            actors.for_kind(kind).send(action_id=action_id, connection_id=connection_id)
        except Exception:
            if marks is not None:  # no message went: the next action must not wait for one
                marks.clear(key)
            raise
