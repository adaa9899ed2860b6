"""The transactional outbox: every outbound action is a row before it is a message.

Rows are added in the same transaction as the change that causes them; the broker only carries
their ids. The idempotency key's unique constraint makes creating an action idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.models import Action, ActionKind, ActionStatus, utcnow


def add_action(
    session: Session,
    *,
    tenant_id: int,
    connection_id: int,
    kind: ActionKind,
    key: str,
    payload: dict[str, Any] | None = None,
    delay: float = 0.0,
) -> tuple[Action, bool]:
    """Insert an action unless one with ``key`` exists; returns (action, created).

    The look-up locks the row (FOR UPDATE). A worker claiming this action right now holds that
    lock: we wait, then — the worker having renamed the key — find nothing and create a new
    action, so a value written while the worker was reading the old one is still sent. A
    worker that comes second skips the locked row (SKIP LOCKED) and takes it next round.
    """
    existing = session.exec(select(Action).where(Action.idempotency_key == key).with_for_update()).first()
    if existing is not None:
        return existing, False
    action = Action(
        tenant_id=tenant_id,
        connection_id=connection_id,
        kind=kind,
        idempotency_key=key,
        payload=payload or {},
        next_attempt_at=utcnow() + timedelta(seconds=delay),
    )
    try:
        with session.begin_nested():
            session.add(action)
    except sa.exc.IntegrityError:
        # Another transaction created it between our look and our insert.
        found = session.exec(select(Action).where(Action.idempotency_key == key)).one()
        return found, False
    return action, True


@dataclass(frozen=True)
class NewAction:
    tenant_id: int
    connection_id: int
    kind: ActionKind
    key: str
    payload: dict[str, Any] = field(default_factory=dict)
    delay: float = 0.0


def add_actions(session: Session, actions: Sequence[NewAction]) -> int:
    """Create, in two statements, the actions whose keys do not exist yet; returns how many.

    The bulk form of ``add_action`` (stock changes by the hundred, the nightly check by the
    thousand), with the same locking: existing rows are locked first, in id order, so a change
    never coalesces into a push a worker is claiming at this very moment.
    """
    unique = list({a.key: a for a in actions}.values())
    if not unique:
        return 0
    existing = set(session.exec(
        select(Action.idempotency_key).where(col(Action.idempotency_key).in_([a.key for a in unique]))
        .order_by(col(Action.id)).with_for_update()
    ).all())
    now = utcnow()
    values = [
        {"tenant_id": a.tenant_id, "connection_id": a.connection_id, "kind": a.kind.value, "idempotency_key": a.key,
         "status": ActionStatus.PENDING.value, "payload": a.payload, "attempts": 0,
         "next_attempt_at": now + timedelta(seconds=a.delay), "created_at": now, "updated_at": now}
        for a in unique if a.key not in existing
    ]
    if not values:
        return 0
    table = Action.__table__  # type: ignore[attr-defined]
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnest(session, values)
    from sqlalchemy.dialects.sqlite import insert

    result = session.connection().execute(
        insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id), values
    )
    return len(result.all())


_UNNEST = sa.text(
    "INSERT INTO actions (tenant_id, connection_id, kind, idempotency_key, status, payload, attempts, "
    "next_attempt_at, created_at, updated_at) "
    "SELECT * FROM unnest(CAST(:tenant AS integer[]), CAST(:conn AS integer[]), CAST(:kind AS varchar[]), "
    "CAST(:key AS varchar[]), CAST(:status AS varchar[]), CAST(:payload AS json[]), CAST(:attempts AS integer[]), "
    "CAST(:due AS timestamptz[]), CAST(:created AS timestamptz[]), CAST(:updated AS timestamptz[])) "
    "ON CONFLICT (idempotency_key) DO NOTHING"
)


def _insert_unnest(session: Session, values: list[dict[str, Any]]) -> int:
    """PostgreSQL: one statement with one array per column. A multi-row VALUES of thousands of
    rows costs the driver more to build than the server to run (the API's bulk stock path)."""
    import json

    result = session.execute(_UNNEST, {
        "tenant": [v["tenant_id"] for v in values], "conn": [v["connection_id"] for v in values],
        "kind": [v["kind"] for v in values], "key": [v["idempotency_key"] for v in values],
        "status": [v["status"] for v in values], "payload": [json.dumps(v["payload"]) for v in values],
        "attempts": [v["attempts"] for v in values], "due": [v["next_attempt_at"] for v in values],
        "created": [v["created_at"] for v in values], "updated": [v["updated_at"] for v in values],
    })
    return int(result.rowcount)  # type: ignore[attr-defined]
