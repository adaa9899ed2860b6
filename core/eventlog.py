"""Reading the integration event log with filters (``kade events`` and the console)."""

from __future__ import annotations

from collections.abc import Collection

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
