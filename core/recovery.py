"""After an outage: what each connection missed, and re-driving exactly that — orders first.

The outbox already holds every action that could not be sent; the sweeper re-drives them on its
own once the stores answer again. An operator who wants to look first runs ``kade recover
--dry-run``: per connection, what is still pending, what failed during the window (retries
exhausted while the store was down) and from when orders will be fetched again. Without
``--dry-run`` the same plan is carried out in the order of rule R10: every connection's orders
are imported first, then stock is pushed, then shipments and cancellations are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from kade.app import Kade
from kade.errors import UserError
from kade.jobs import Actors
from kade.models import Action, ActionKind, ActionStatus, Connection, ConnectionStatus, Event, Tenant, utcnow

#: the kinds of action a recovery re-drives, in the order they go out (rule R10)
DRAIN_ORDER = (ActionKind.STOCK, ActionKind.SHIPMENT, ActionKind.CANCEL)


@dataclass
class ConnectionGap:
    """What one connection missed in the window and what recovery will send for it."""

    connection_id: int
    tenant: str
    name: str
    platform: str
    status: str
    #: orders will be fetched again from this moment (the earlier of the window's start and the cursor)
    import_since: datetime | None
    #: action kind → count, still waiting to be sent
    pending: dict[str, int] = field(default_factory=dict)
    #: action kind → count, given up on during the window (they will be retried)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def to_send(self) -> int:
        return sum(self.pending.values()) + sum(self.failed.values())


@dataclass
class RecoveryPlan:
    since: datetime
    until: datetime
    connections: list[ConnectionGap]

    def totals(self) -> dict[str, int]:
        """Action kind → how many will be sent, over every connection."""
        total: dict[str, int] = {}
        for gap in self.connections:
            for counts in (gap.pending, gap.failed):
                for kind, n in counts.items():
                    total[kind] = total.get(kind, 0) + n
        return total


@dataclass
class RecoveryResult:
    imports_requested: int
    retried: int
    dispatched: dict[str, int]


def _counts(session: Session, where: Iterable[sa.ColumnElement[bool]]) -> dict[tuple[int, str], int]:
    rows = session.exec(
        select(Action.connection_id, Action.kind, func.count())
        .where(*where, col(Action.kind).in_([k.value for k in DRAIN_ORDER]))
        .group_by(col(Action.connection_id), col(Action.kind))
    ).all()
    return {(cid, str(kind)): int(n) for cid, kind, n in rows if cid is not None}


def plan_recovery(session: Session, since: datetime, until: datetime | None = None, *,
                  tenant_id: int | None = None) -> RecoveryPlan:
    """Read-only: what each connection of the tenant (or every tenant) missed in ``[since, until]``."""
    until = until or utcnow()
    if since.tzinfo is None or until.tzinfo is None:
        raise UserError("--since and --until need a time zone (e.g. 2026-12-01T09:00:00+01:00 or ...Z)")
    if since >= until:
        raise UserError(f"--since ({since.isoformat()}) must be before --until ({until.isoformat()})")
    query = select(Connection, Tenant.slug).join(Tenant, col(Tenant.id) == col(Connection.tenant_id))
    if tenant_id is not None:
        query = query.where(Connection.tenant_id == tenant_id)
    pending = _counts(session, [col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING])])
    failed = _counts(session, [col(Action.status) == ActionStatus.FAILED,
                               col(Action.updated_at) >= since, col(Action.updated_at) <= until])
    gaps: list[ConnectionGap] = []
    for conn, slug in session.exec(query.order_by(col(Connection.id))).all():
        assert conn.id is not None
        cursor = conn.order_cursor
        gaps.append(ConnectionGap(
            connection_id=conn.id, tenant=slug, name=conn.name, platform=conn.platform, status=conn.status,
            import_since=min(cursor, since) if cursor is not None else None,
            pending={k: n for (cid, k), n in pending.items() if cid == conn.id},
            failed={k: n for (cid, k), n in failed.items() if cid == conn.id},
        ))
    return RecoveryPlan(since=since, until=until, connections=gaps)


def retry_actions(session: Session, actions: Sequence[Action]) -> int:
    """Put failed actions back to pending with their attempts reset (``kade actions retry`` too)."""
    now = utcnow()
    for row in actions:
        if row.status != ActionStatus.FAILED:
            raise UserError(f"action {row.id} is {row.status}, not failed")
        row.status = ActionStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.enqueued_at = None
        row.done_at = None
        row.updated_at = now
        session.add(row)
    return len(actions)


def retry_failed_actions(session: Session, ids: Sequence[int] = (), *, all_failed: bool = False) -> int:
    """Retry the named failed actions, or every failed one: the operator's ``actions retry``."""
    if all_failed:
        rows = list(session.exec(select(Action).where(Action.status == ActionStatus.FAILED)).all())
    elif ids:
        rows = []
        for action_id in ids:
            row = session.get(Action, action_id)
            if row is None:
                raise UserError(f"no action {action_id}")
            rows.append(row)
    else:
        raise UserError("name action ids or use --all-failed")
    return retry_actions(session, rows)


def _until(done: Callable[[], bool], timeout: float) -> None:
    """Poll ``done`` until it holds or ``timeout`` passed; a phase that overruns lets the next go."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def _imports_done(kade: Kade, ids: list[int], started: datetime) -> Callable[[], bool]:
    """Each connection's import since ``started`` has ended (imported or failed), or it is no longer
    active (a refused login puts it in ``needs_reauth``; it sends nothing until re-authorised)."""
    def done() -> bool:
        with kade.db.session() as session:
            ended = set(session.exec(select(Event.connection_id).where(
                col(Event.connection_id).in_(ids), col(Event.kind) == "orders_imported",
                col(Event.at) >= started)).all())
            inactive = set(session.exec(select(Connection.id).where(
                col(Connection.id).in_(ids), col(Connection.status) != ConnectionStatus.ACTIVE)).all())
        return set(ids) <= ended | inactive
    return done


def _stock_done(kade: Kade, ids: list[int]) -> Callable[[], bool]:
    """No stock action of these connections is pending or running."""
    def done() -> bool:
        with kade.db.session() as session:
            left = session.exec(select(func.count()).select_from(Action).where(
                col(Action.connection_id).in_(ids), col(Action.kind) == ActionKind.STOCK,
                col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING]))).one()
        return int(left) == 0
    return done


def run_recovery(kade: Kade, actors: Actors | None, plan: RecoveryPlan, *,
                 settle: float = 0.0) -> RecoveryResult:
    """Carry out ``plan``: imports first, then the window's failed actions and every pending one.

    Only connections that are active now are driven; a connection still in ``needs_reauth`` or
    paused keeps its backlog (the plan shows it) until it is active again. Queue priority
    (``KADE_QUEUE_ORDER``) favours orders over stock over shipments, but with idle worker
    threads every queue is served at once: a stock push can reach the store before the import
    has fetched its first page, and a shipment can overtake a stock push the store's rate limit
    is pacing. With ``settle`` > 0 each phase waits for the one before it — stock goes out once
    every connection's import has ended, shipments and cancellations once the stock has gone —
    at most ``settle`` seconds per phase, so rule R10 holds strictly. Orders go first so that
    the stock pushed already counts the orders placed during the outage.
    Without ``actors`` (the embedded mode, whose broker lives in the ``kade worker`` process) only
    the database is changed: that process's sweep sends the actions and its scheduler polls.
    """
    from kade.sweeper import dispatch

    active = [g for g in plan.connections if g.status == ConnectionStatus.ACTIVE]
    ids = [g.connection_id for g in active]
    with kade.db.transaction() as session:
        for gap in active:
            conn = session.get(Connection, gap.connection_id)
            if conn is not None and conn.order_cursor is not None and conn.order_cursor > plan.since:
                conn.order_cursor = plan.since  # re-imports are idempotent: fetching again is safe
                session.add(conn)
        failed = list(session.exec(select(Action).where(
            col(Action.connection_id).in_(ids), col(Action.status) == ActionStatus.FAILED,
            col(Action.kind).in_([k.value for k in DRAIN_ORDER]),
            col(Action.updated_at) >= plan.since, col(Action.updated_at) <= plan.until)).all())
        retried = retry_actions(session, failed)
    if actors is None:
        return RecoveryResult(imports_requested=0, retried=retried, dispatched={})
    started = utcnow()
    for connection_id in ids:
        actors.import_orders.send(connection_id=connection_id)
    if settle > 0 and ids:
        _until(_imports_done(kade, ids, started), settle)
    dispatched: dict[str, int] = {}
    with kade.db.session() as session:
        pending = session.exec(select(Action.id, Action.kind).where(
            col(Action.connection_id).in_(ids), col(Action.status) == ActionStatus.PENDING,
            col(Action.kind).in_([k.value for k in DRAIN_ORDER]))).all()
    for kind in DRAIN_ORDER:
        batch = [int(i) for i, k in pending if k == kind and i is not None]
        dispatched[kind.value] = dispatch(kade, actors, batch)
        if kind == ActionKind.STOCK and settle > 0 and ids:
            _until(_stock_done(kade, ids), settle)
    return RecoveryResult(imports_requested=len(ids), retried=retried, dispatched=dispatched)


def list_actions(session: Session, *, statuses: Sequence[ActionStatus] = (), tenant_ids: Iterable[int] | None = None,
                 limit: int = 50) -> list[Action]:
    """Outbox actions newest first (``kade actions list``, the console); ``tenant_ids`` None: all."""
    query = select(Action).order_by(col(Action.id).desc()).limit(limit)
    if statuses:
        query = query.where(col(Action.status).in_([s.value for s in statuses]))
    if tenant_ids is not None:
        query = query.where(col(Action.tenant_id).in_(list(tenant_ids) or [-1]))
    return list(session.exec(query).all())
