"""The integration event log: reading it with filters (``kade events`` and the console), and
its retention."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.models import Event


def list_events(session: Session, *, tenant_ids: Collection[int] | None = None, connection_id: int | None = None,
                kind: str | None = None, outcome: str | None = None, limit: int = 50) -> list[Event]:
    """Newest first. ``tenant_ids`` None: every tenant's events and Kade's own."""
    query = select(Event).order_by(col(Event.id).desc()).limit(limit)
    if tenant_ids is not None:
        query = query.where(col(Event.tenant_id).in_(list(tenant_ids) or [-1]))
    if connection_id is not None:
        query = query.where(Event.connection_id == connection_id)
    if kind:
        query = query.where(Event.kind == kind)
    if outcome:
        query = query.where(Event.outcome == outcome)
    return list(session.exec(query).all())


def prune_events(session: Session, before: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` events older than ``before``; how many.

    Bounded so the caller decides how much one transaction holds: after a week's pause (or at
    50,000 connections, docs/scaling.md) an unbounded DELETE of every expired event is one long
    transaction that holds the scheduler's tick, and every poll behind it, for as long as it runs.
    """
    expired = select(Event.id).where(col(Event.at) < before).limit(limit).scalar_subquery()
    result = session.execute(sa.delete(Event).where(col(Event.id).in_(expired))
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
