"""The transactional outbox: every outbound action is a row before it is a message.

Rows are added in the same transaction as the change that causes them; the broker only carries
their ids. The idempotency key's unique constraint makes creating an action idempotent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

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


def add_pending_actions(
    session: Session,
    *,
    tenant_id: int,
    connection_id: int,
    kind: ActionKind,
    rows: list[tuple[str, dict[str, Any]]],
) -> int:
    """Insert many actions at once, skipping keys that already exist (``ON CONFLICT DO NOTHING``).

    The bulk form of ``add_action`` for jobs that find thousands of things to do (the nightly
    stock check); returns how many were new.
    """
    if not rows:
        return 0
    now = utcnow()
    values = [
        {"tenant_id": tenant_id, "connection_id": connection_id, "kind": kind.value, "idempotency_key": key,
         "status": ActionStatus.PENDING.value, "payload": payload, "attempts": 0, "next_attempt_at": now,
         "created_at": now, "updated_at": now}
        for key, payload in rows
    ]
    table = Action.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert: Any
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    result = session.connection().execute(
        insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id), values
    )
    return len(result.all())


def pending_count(session: Session) -> int:
    return session.exec(
        select(sa.func.count()).select_from(Action).where(Action.status == ActionStatus.PENDING)
    ).one()
