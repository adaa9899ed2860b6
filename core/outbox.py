"""The transactional outbox: every outbound action is a row before it is a message.

Rows are added in the same transaction as the change that causes them; the broker only carries
their ids. The idempotency key's unique constraint makes creating an action idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite
from sqlmodel import Session, col, select

from kade.db import AFTER_COMMIT, after_commit, insert_many, one_of
from kade.models import Action, ActionKind, ActionStatus, utcnow
from kade.warehouse_models import OutboundEvent, WebhookAttempt, WebhookSubscription


@dataclass(frozen=True)
class Fresh:
    """An action just created, to be sent once its transaction commits (``kade.db.after_commit``).

    Stock is announced once per connection (``action_id`` None) with the latest due time: one
    delayed flush serves every push the transaction queued for that store.
    """

    kind: ActionKind
    connection_id: int | None
    due: datetime
    action_id: int | None = None


_ACTION_COLUMNS = ("tenant_id", "connection_id", "kind", "idempotency_key", "status", "payload", "attempts",
                   "next_attempt_at", "enqueued_at", "created_at", "updated_at")


def _insert_action(postgres: bool) -> sa.Insert:
    table = Action.__table__  # type: ignore[attr-defined]
    insert = sa.dialects.postgresql.insert if postgres else sa.dialects.sqlite.insert
    return (insert(table).values({name: sa.bindparam(name, type_=table.c[name].type) for name in _ACTION_COLUMNS})
            .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id))


#: built once per dialect: every shipment, cancellation and webhook delivery goes through it
_INSERT_ACTION = {True: _insert_action(True), False: _insert_action(False)}
_ACTIONS = Action.__table__  # type: ignore[attr-defined]
_LOCK_ACTION = sa.select(_ACTIONS.c.id).where(_ACTIONS.c.idempotency_key == sa.bindparam("key")).with_for_update()


def add_action(
    session: Session,
    *,
    tenant_id: int,
    connection_id: int,
    kind: ActionKind,
    key: str,
    payload: dict[str, Any] | None = None,
    delay: float = 0.0,
) -> tuple[int, bool]:
    """Insert an action unless one with ``key`` exists; returns (its id, created).

    One INSERT ... ON CONFLICT DO NOTHING does the common case. The conflict check waits for a
    transaction that holds a row with this key — a worker claiming it right now, renaming its
    key — and then inserts, so a value written while that worker reads the old one is still
    sent. When the key is taken for good, the existing row is locked (FOR UPDATE) and returned:
    a worker that comes to claim it meanwhile skips it (SKIP LOCKED) and takes it next round.

    When the session can send after its commit (a process with a broker), the new action is
    marked sent and announced; otherwise the sweeper sends it.
    """
    now = utcnow()
    due = now + timedelta(seconds=delay)
    sending = AFTER_COMMIT in session.info
    enqueued = now if sending else None
    values: dict[str, Any] = {
        "tenant_id": tenant_id, "connection_id": connection_id, "kind": kind.value, "idempotency_key": key,
        "status": ActionStatus.PENDING.value, "payload": payload or {}, "attempts": 0, "next_attempt_at": due,
        "enqueued_at": enqueued, "created_at": now, "updated_at": now}
    statement = _INSERT_ACTION[session.get_bind().dialect.name == "postgresql"]
    # Core, not the ORM: this runs once per shipment and cancellation the warehouse makes, and
    # the ORM's statement handling and an Action instance cost more than the insert itself.
    connection = session.connection()
    for _ in range(3):
        new_id = connection.execute(statement, values).scalar()
        if new_id is not None:
            if sending:
                after_commit(session, Fresh(kind, connection_id, due, new_id))
            return int(new_id), True
        existing = connection.execute(_LOCK_ACTION, {"key": key}).scalar()
        if existing is not None:
            return int(existing), False
        # claimed and renamed between our insert and our look: the key is free again
    raise RuntimeError(f"could not create or find the action {key!r}")


@dataclass(frozen=True)
class NewAction:
    tenant_id: int
    connection_id: int
    kind: ActionKind
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0


#: the first key of the advisory locks on a connection's stock slots (any constant unique to Kade)
STOCK_SLOTS_LOCK = 0x4B53


def lock_stock_slots(session: Session, connection_ids: Sequence[int], *, shared: bool = False) -> None:
    """Hold, until the transaction ends, the right to put stock actions of these connections in
    their links' pending slots (``stock:<connection>:<link>:pending``) — or, ``shared``, to take
    actions out of them (a flush's claim; any number at once).

    Two writers fill the slots: ``add_actions`` (a stock change) and a failed push putting its
    action back (``kade.stockpush``). Without this lock they deadlock: the push renames a row
    to a pending key and waits on the unique index for the change's uncommitted insert, while
    the change waits on the renamed row. Both take this lock before touching a pending slot —
    the push only once it holds nothing a change waits for — so neither ever waits on the
    other while holding what it needs. A claim takes it shared, so that no claim renames a
    slot's row while a change holds the lock: a change that had read the row as pending would
    follow it to its renamed version and keep a lock on it that the push's record then waits
    for (docs/decisions/stock-slot-lock.md). SQLite runs one writer at a time and needs none.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    take = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    for connection_id in sorted(set(connection_ids)):  # one order everywhere
        session.execute(sa.text(f"SELECT {take}(:space, :id)"), {"space": STOCK_SLOTS_LOCK, "id": connection_id})


def add_actions(session: Session, actions: Sequence[NewAction]) -> int:
    """Create, in two statements, the actions whose keys do not exist yet; returns how many.

    The bulk form of ``add_action`` (stock changes by the hundred, the nightly check by the
    thousand), with the same locking: existing rows are locked first, in id order, so a change
    never coalesces into a push a worker is claiming at this very moment.
    """
    unique = list({a.key: a for a in actions}.values())
    if not unique:
        return 0
    lock_stock_slots(session, [a.connection_id for a in unique if a.kind == ActionKind.STOCK])
    existing = set(session.exec(
        select(Action.idempotency_key).where(col(Action.idempotency_key).in_([a.key for a in unique]))
        .order_by(col(Action.id)).with_for_update()
    ).all())
    now = utcnow()
    # Stock is announced per connection (one delayed flush each); other kinds are left to the sweeper.
    sending = AFTER_COMMIT in session.info
    values: list[dict[str, Any]] = [
        {"tenant_id": a.tenant_id, "connection_id": a.connection_id, "kind": a.kind.value, "idempotency_key": a.key,
         "status": ActionStatus.PENDING.value, "payload": a.payload, "attempts": 0,
         "next_attempt_at": now + timedelta(seconds=a.delay),
         "enqueued_at": now if sending and a.kind == ActionKind.STOCK else None,
         "created_at": now, "updated_at": now}
        for a in unique if a.key not in existing
    ]
    if not values:
        return 0
    if sending:
        flushes: dict[int, datetime] = {}
        for v in values:
            if v["enqueued_at"] is not None:
                flushes[v["connection_id"]] = max(flushes.get(v["connection_id"], now), v["next_attempt_at"])
        for connection_id, due in flushes.items():
            after_commit(session, Fresh(ActionKind.STOCK, connection_id, due))
    table = Action.__table__  # type: ignore[attr-defined]
    # one array per column on PostgreSQL: the API's bulk stock path creates thousands at once
    return len(insert_many(session, table, values, returning=("id",), skip_conflicts_on="idempotency_key"))


#: the statuses an action ends in for good; a failed one waits for an operator's retry instead
SETTLED = (ActionStatus.DONE, ActionStatus.CANCELLED)


def prune_actions(session: Session, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` actions settled (done or cancelled) before ``before``, with their
    webhook delivery attempts and the warehouse events no delivery is left for; how many actions.

    Without it the outbox keeps every push and report it ever sent, and the claims' and the
    sweeper's indexes carry them all. Forgetting a settled action is safe because no key is
    ever added twice: a claimed push or import renames its key after its own id, and a
    shipment's, a cancellation's and a webhook event's keys name a row created once
    (docs/decisions/settled-action-retention.md). The ``next_attempt_at`` bound lets
    PostgreSQL read ``ix_action_status_next`` instead of the whole table: an action is due
    before it settles, so every expired one is within it.
    """
    expired = session.exec(
        select(Action.id, Action.kind, Action.payload)
        .where(col(Action.status).in_([s.value for s in SETTLED]),
               col(Action.next_attempt_at) < before, col(Action.updated_at) < before)
        .limit(limit)).all()
    if not expired:
        return 0
    ids = [action_id for action_id, _, _ in expired]
    events = {int(payload["event_id"]) for _, kind, payload in expired
              if kind == ActionKind.WEBHOOK and isinstance(payload, dict) and "event_id" in payload}
    session.execute(sa.delete(WebhookAttempt).where(one_of(session, col(WebhookAttempt.action_id), ids))
                    .execution_options(synchronize_session=False))
    session.execute(sa.delete(Action).where(one_of(session, col(Action.id), ids))
                    .execution_options(synchronize_session=False))
    if events:
        _forget_events(session, events)
    return len(ids)


def _forget_events(session: Session, event_ids: set[int]) -> None:
    """Delete the warehouse events among ``event_ids`` that no delivery action is left for.

    An event is kept while any subscription's delivery of it is (a failed one waits for a
    retry and needs its body). The deliveries are found by their keys, ``webhook:{sub}:{event}``
    over the tenant's subscriptions, removed ones too: the unique index answers that, where a
    look into every action's payload would read the table.
    """
    rows = session.exec(select(OutboundEvent.id, OutboundEvent.tenant_id)
                        .where(one_of(session, col(OutboundEvent.id), sorted(event_ids)))).all()
    tenants = {tenant_id for _, tenant_id in rows}
    subscriptions: dict[int, list[int]] = {}
    for sub_id, tenant_id in session.exec(select(WebhookSubscription.id, WebhookSubscription.tenant_id)
                                          .where(one_of(session, col(WebhookSubscription.tenant_id), tenants))):
        subscriptions.setdefault(tenant_id, []).append(int(sub_id or 0))
    keys = {f"webhook:{sub_id}:{event_id}": int(event_id or 0)
            for event_id, tenant_id in rows for sub_id in subscriptions.get(tenant_id, [])}
    kept = {keys[key] for key in session.exec(
        select(Action.idempotency_key).where(one_of(session, col(Action.idempotency_key), list(keys))))}
    gone = [int(event_id or 0) for event_id, _ in rows if event_id not in kept]
    if gone:
        session.execute(sa.delete(OutboundEvent).where(one_of(session, col(OutboundEvent.id), gone))
                        .execution_options(synchronize_session=False))
