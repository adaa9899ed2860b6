"""After an outage: what each connection missed, and re-driving exactly that — orders first.

The outbox already holds every action that could not be sent; the sweeper re-drives them on its
own once the stores answer again. An operator who wants to look first runs ``kade recover
--dry-run``: per connection, what is still pending, what failed during the window (retries
exhausted while the store was down) and from when orders will be fetched again. Without
``--dry-run`` the same plan is carried out in the order of rule R10: every connection's orders
are imported first, then stock is pushed, then shipments and cancellations are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from kade.app import Kade
from kade.db import BULK_ANALYZE, refresh_statistics
from kade.errors import UserError
from kade.jobs import Actors
from kade.models import Action, ActionKind, ActionStatus, Connection, ConnectionStatus, Tenant, utcnow
from kade.recovery_drain import DRAIN_ORDER, drain


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
    #: distinct products among the stock above: one push carries a product's latest stock, so
    #: this, not the count of stock actions, is what the store is sent
    stock_products: int = 0

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

    def stock_products(self) -> int:
        """Products whose stock will be pushed, over every connection."""
        return sum(gap.stock_products for gap in self.connections)


@dataclass
class RecoveryResult:
    #: connections whose recovery job was queued (0 in the embedded mode: the worker's sweep drives it)
    imports_requested: int
    retried: int
    #: failed stock pushes not retried: a newer push of the same product exists
    superseded: int = 0
    #: pending actions that waited for a backoff, due now with their attempts reset
    rescheduled: int = 0


#: the product link a stock action pushes (its payload's ``link_id``)
_STOCK_LINK = col(Action.payload)["link_id"].as_integer()


def _supersede_stock(session: Session, connection_ids: Sequence[int], window: Sequence[sa.ColumnElement[bool]],
                     ) -> int:
    """Close the failed stock pushes of these connections in the ``window`` that a newer stock
    action of the same product link follows; how many.

    A push sends the product's stock as it is when the push runs, so one push per product
    carries everything its older failed pushes would have sent. After a long outage most
    products have a failed push and a pending newer one: retrying both makes two claims and a
    store call with half its items unchanged where one does. One ranking per link over the
    actions since the first failure (not the table's history) finds the older ones.
    """
    failed = (col(Action.kind) == ActionKind.STOCK, col(Action.status) == ActionStatus.FAILED,
              col(Action.connection_id).in_(connection_ids), *window)
    first = session.exec(select(func.min(Action.id)).where(*failed)).one()
    if first is None:
        return 0
    ranking = (
        sa.select(col(Action.id).label("id"),
                  sa.func.row_number().over(partition_by=(col(Action.connection_id), _STOCK_LINK),
                                            order_by=col(Action.id).desc()).label("rank"))
        .where(col(Action.kind) == ActionKind.STOCK, col(Action.connection_id).in_(connection_ids),
               col(Action.id) >= first)
    )
    # PostgreSQL ranks once: planned on statistics older than the outage, the subquery was ranked
    # again for every failed push (162 ms for 200 of them, the longest step of a recovery's
    # start). SQLite reports no row count for an UPDATE that starts with WITH.
    postgres = session.get_bind().dialect.name == "postgresql"
    ranked: sa.Subquery | sa.CTE = ranking.cte("ranked").prefix_with("MATERIALIZED") if postgres else ranking.subquery()
    now = utcnow()
    result = session.execute(
        sa.update(Action)
        .where(*failed, col(Action.id).in_(select(ranked.c.id).where(ranked.c.rank > 1)))
        .values(status=ActionStatus.CANCELLED, last_error="superseded: a newer push of this product follows",
                updated_at=now, done_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


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
    waiting = col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING])
    given_up = sa.and_(col(Action.status) == ActionStatus.FAILED, col(Action.updated_at) >= since,
                       col(Action.updated_at) <= until)
    pending = _counts(session, [waiting])
    failed = _counts(session, [given_up])
    products = dict(session.exec(
        select(Action.connection_id, func.count(sa.distinct(_STOCK_LINK)))
        .where(col(Action.kind) == ActionKind.STOCK, sa.or_(waiting, given_up))
        .group_by(col(Action.connection_id))).all())
    gaps: list[ConnectionGap] = []
    for conn, slug in session.exec(query.order_by(col(Connection.id))).all():
        assert conn.id is not None
        cursor = conn.order_cursor
        gaps.append(ConnectionGap(
            connection_id=conn.id, tenant=slug, name=conn.name, platform=conn.platform, status=conn.status,
            import_since=min(cursor, since) if cursor is not None else None,
            pending={k: n for (cid, k), n in pending.items() if cid == conn.id},
            failed={k: n for (cid, k), n in failed.items() if cid == conn.id},
            stock_products=int(products.get(conn.id, 0)),
        ))
    return RecoveryPlan(since=since, until=until, connections=gaps)


def _retry(session: Session, *where: sa.ColumnElement[bool]) -> int:
    """Put the failed actions ``where`` selects back to pending, attempts reset, in one UPDATE."""
    now = utcnow()
    result = session.execute(
        sa.update(Action).where(col(Action.status) == ActionStatus.FAILED, *where)
        .values(status=ActionStatus.PENDING, attempts=0, next_attempt_at=now, enqueued_at=None, done_at=None,
                updated_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _reschedule(session: Session, *where: sa.ColumnElement[bool], mark: bool) -> tuple[int, int]:
    """Make every pending action ``where`` selects due now, attempts reset; (how many waited for
    a backoff, how many are pending).

    The operator says the stores are back: what the outage cost in attempts must not count
    against the budget after it. An action one transient failure short of ``KADE_MAX_ATTEMPTS``
    would otherwise fail on the first 503 of the drain, and one waiting out an hour's backoff
    would miss the recovery altogether. With ``mark`` the recovery's jobs send them, phase by
    phase: marked as sent, they are not the sweeper's to send meanwhile (a sweep in the worker
    process would otherwise send stock and shipments ahead of the import). A job that dies
    leaves its actions to the sweeper after KADE_SWEEP_AFTER, as any lost message.
    """
    now = utcnow()
    pending = (col(Action.status) == ActionStatus.PENDING, *where)
    waiting = int(session.exec(select(func.count()).select_from(Action)
                               .where(*pending, col(Action.next_attempt_at) > now)).one())
    result = session.execute(
        sa.update(Action).where(*pending)
        .values(attempts=0, next_attempt_at=now, updated_at=now, **({"enqueued_at": now} if mark else {}))
        .execution_options(synchronize_session=False))
    return waiting, int(result.rowcount)  # type: ignore[attr-defined]


def retry_actions(session: Session, actions: Sequence[Action]) -> int:
    """Put failed actions back to pending with their attempts reset (``kade actions retry`` too)."""
    for row in actions:
        if row.status != ActionStatus.FAILED:
            raise UserError(f"action {row.id} is {row.status}, not failed")
    if not actions:
        return 0
    count = _retry(session, col(Action.id).in_([row.id for row in actions]))
    for row in actions:
        session.expire(row)
    return count


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


def run_recovery(kade: Kade, actors: Actors | None, plan: RecoveryPlan, *,
                 settle: float = 0.0) -> RecoveryResult:
    """Carry out ``plan``: imports first, then the window's failed actions and every pending one.

    Only connections that are active now are driven; a connection still in ``needs_reauth`` or
    paused keeps its backlog (the plan shows it) until it is active again. With ``actors`` each
    connection gets one ``recover_connection`` job, which runs its import, stock and shipments
    one after the other (``kade.recovery_drain``), pending actions that waited for a backoff
    included (``_reschedule``); a phase waits for the one before at most
    ``settle`` seconds (0: not at all). Without ``actors`` (the embedded mode, whose broker lives
    in the ``kade worker`` process) only the database is changed: that process's sweep sends the
    actions and its scheduler polls.
    """
    active = [g for g in plan.connections if g.status == ConnectionStatus.ACTIVE]
    ids = [g.connection_id for g in active]
    with kade.db.transaction() as session:
        for gap in active:
            conn = session.get(Connection, gap.connection_id)
            if conn is not None and conn.order_cursor is not None and conn.order_cursor > plan.since:
                conn.order_cursor = plan.since  # re-imports are idempotent: fetching again is safe
                session.add(conn)
        mine = (col(Action.connection_id).in_(ids), col(Action.kind).in_([k.value for k in DRAIN_ORDER]))
        window = (col(Action.updated_at) >= plan.since, col(Action.updated_at) <= plan.until)
        superseded = _supersede_stock(session, ids, window)
        retried = _retry(session, *mine, *window)
        rescheduled, marked = _reschedule(session, *mine, mark=actors is not None)
    if retried + marked >= BULK_ANALYZE:
        # Thousands of failed actions are pending again: planned on the old statistics, each
        # claim of the drain would take pending for rare and pick the wrong index.
        with kade.db.transaction() as session:
            refresh_statistics(session, "actions")
    if actors is not None:
        drain(actors, ids, settle=settle)
    return RecoveryResult(imports_requested=len(ids) if actors is not None else 0, retried=retried,
                          superseded=superseded, rescheduled=rescheduled)


def list_actions(session: Session, *, statuses: Sequence[ActionStatus] = (), tenant_ids: Iterable[int] | None = None,
                 limit: int = 50) -> list[Action]:
    """Outbox actions newest first (``kade actions list``, the console); ``tenant_ids`` None: all."""
    query = select(Action).order_by(col(Action.id).desc()).limit(limit)
    if statuses:
        query = query.where(col(Action.status).in_([s.value for s in statuses]))
    if tenant_ids is not None:
        query = query.where(col(Action.tenant_id).in_(list(tenant_ids) or [-1]))
    return list(session.exec(query).all())
