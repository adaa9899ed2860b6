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
    """Insert an action unless one with ``key`` exists; returns (action, created)."""
    existing = session.exec(select(Action).where(Action.idempotency_key == key)).first()
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


def pending_count(session: Session) -> int:
    return session.exec(
        select(sa.func.count()).select_from(Action).where(Action.status == ActionStatus.PENDING)
    ).one()
