"""The integration event log and operator notifications (rule R11: observable, auditable).

Both are written inside the caller's transaction, so an event exists exactly when the change
it describes was committed. Everything stored as text goes through redaction first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from kade.logs import get_logger, redact, redact_text
from kade.models import Event, Notification, utcnow

log = get_logger(__name__)
#: Core, not ORM-enabled: the ORM's bulk-insert path costs more than the INSERT itself
_INSERT_EVENT = sa.insert(Event.__table__)  # type: ignore[attr-defined]


def record_event(
    session: Session,
    kind: str,
    outcome: str,
    message: str = "",
    *,
    tenant_id: int | None = None,
    connection_id: int | None = None,
    action_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one event to the log (in the session's transaction) and log it.

    One INSERT, not the unit of work: every action a worker runs writes an event, and building
    an ORM object to flush it cost more than the rest of recording the outcome.
    """
    session.execute(_INSERT_EVENT, {
        "at": utcnow(), "kind": kind, "outcome": outcome, "message": redact_text(message), "tenant_id": tenant_id,
        "connection_id": connection_id, "action_id": action_id, "data": redact(data or {})})
    log.info(kind, outcome=outcome, message=message, tenant_id=tenant_id, connection_id=connection_id,
             action_id=action_id)


def record_events(session: Session, events: list[dict[str, Any]]) -> None:
    """``record_event`` for many at once (a batch of actions): one multi-row INSERT.

    Each dict holds ``kind``, ``outcome`` and optionally ``message``, ``tenant_id``,
    ``connection_id``, ``action_id`` and ``data``.
    """
    if not events:
        return
    at = utcnow()
    rows = [{"at": at, "kind": e["kind"], "outcome": e["outcome"], "message": redact_text(e.get("message", "")),
             "tenant_id": e.get("tenant_id"), "connection_id": e.get("connection_id"),
             "action_id": e.get("action_id"), "data": redact(e.get("data") or {})} for e in events]
    session.connection().execute(_INSERT_EVENT, rows)
    for e in events:
        log.info(e["kind"], outcome=e["outcome"], message=e.get("message", ""), tenant_id=e.get("tenant_id"),
                 connection_id=e.get("connection_id"), action_id=e.get("action_id"))


def notify(
    session: Session,
    kind: str,
    message: str,
    *,
    dedupe_key: str,
    tenant_id: int | None = None,
    connection_id: int | None = None,
) -> Notification:
    """Raise a notification once per ``dedupe_key``; a repeat bumps its count instead."""
    message = redact_text(message)
    existing = session.exec(select(Notification).where(Notification.dedupe_key == dedupe_key)).first()
    if existing is not None:
        existing.count += 1
        existing.last_seen_at = utcnow()
        existing.message = message
        reopened = existing.cleared_at is not None
        if reopened:
            existing.cleared_at = None
        session.add(existing)
        if reopened:
            _announce(session, existing)
        return existing
    note = Notification(
        kind=kind, message=message, dedupe_key=dedupe_key, tenant_id=tenant_id, connection_id=connection_id
    )
    # A savepoint, so a concurrent insert of the same key turns into a bump, not a failed job.
    try:
        with session.begin_nested():
            session.add(note)
    except sa.exc.IntegrityError:
        return notify(session, kind, message, dedupe_key=dedupe_key, tenant_id=tenant_id,
                      connection_id=connection_id)
    log.warning("notification", kind=kind, message=message, tenant_id=tenant_id, connection_id=connection_id)
    _announce(session, note)
    return note


def _announce(session: Session, note: Notification) -> None:
    """A notification appeared (or came back): alert the channels, tell the warehouse's webhooks.

    Only here — a repeat of an open notification bumps its count and announces nothing.
    """
    from kade.alerts import queue_alerts
    from kade.outbound import emit

    queue_alerts(session, note)
    emit(session, note.tenant_id, "notifications.created", f"notification:{note.id}",
         {"notification": {"id": note.id, "kind": note.kind, "message": note.message,
                           "connection_id": note.connection_id}})


def clear_notifications(session: Session, *, connection_id: int, kind: str) -> int:
    """Mark a connection's open notifications of one kind cleared (e.g. after re-authorisation)."""
    notes = session.exec(
        select(Notification).where(
            Notification.connection_id == connection_id,
            Notification.kind == kind,
            Notification.cleared_at.is_(None),  # type: ignore[union-attr]
        )
    ).all()
    for note in notes:
        note.cleared_at = utcnow()
        session.add(note)
    return len(notes)
