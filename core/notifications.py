"""Reading and acknowledging notifications (the HTTP API now, the operator console later).

Raising them is ``kade.audit.notify``; clearing (the condition went away) is the core's job.
Acknowledging only records that a person saw one — an acknowledged notification that fires
again after being cleared is new again.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from kade.errors import NotFoundError
from kade.models import Notification, utcnow

MAX_PAGE = 500


def list_notifications(session: Session, tenant_id: int | None, *, open_only: bool = False,
                       unacknowledged: bool = False, after_id: int = 0, limit: int = 100,
                       all_tenants: bool = False) -> list[Notification]:
    """A tenant's notifications (``all_tenants``: everyone's, for operators) by id after ``after_id``."""
    query = select(Notification).where(col(Notification.id) > after_id)
    if not all_tenants:
        query = query.where(Notification.tenant_id == tenant_id)
    if open_only:
        query = query.where(col(Notification.cleared_at).is_(None))
    if unacknowledged:
        query = query.where(col(Notification.acknowledged_at).is_(None))
    limit = max(1, min(limit, MAX_PAGE))
    return list(session.exec(query.order_by(col(Notification.id)).limit(limit)).all())


def get_notification(session: Session, tenant_id: int | None, notification_id: int, *,
                     all_tenants: bool = False) -> Notification:
    note = session.get(Notification, notification_id) if 0 < notification_id < 2**63 else None
    if note is None or (not all_tenants and note.tenant_id != tenant_id):
        raise NotFoundError(f"no notification {notification_id}")
    return note


def acknowledge(session: Session, tenant_id: int | None, notification_id: int, *,
                all_tenants: bool = False) -> Notification:
    """Mark a notification seen; acknowledging twice keeps the first moment."""
    note = get_notification(session, tenant_id, notification_id, all_tenants=all_tenants)
    if note.acknowledged_at is None:
        note.acknowledged_at = utcnow()
        session.add(note)
    return note


def notification_dict(note: Notification) -> dict[str, Any]:
    from kade.feed import iso

    return {"id": note.id, "tenant_id": note.tenant_id, "connection_id": note.connection_id, "kind": note.kind,
            "message": note.message, "count": note.count, "created_at": iso(note.created_at),
            "last_seen_at": iso(note.last_seen_at), "cleared_at": iso(note.cleared_at),
            "acknowledged_at": iso(note.acknowledged_at)}
