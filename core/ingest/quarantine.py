"""Keeping a record a store sent that Kade cannot take: one place for orders and catalogue products
(listing and importing again live in ``kade.quarantine``).

What a plugin rejected can be as unstorable as what it accepted, so key, reason and raw copy are
made storable first: a quarantine can never fail the page it protects. A record quarantined
again (the store still sends it) updates its row and reopens it instead of adding another.
"""

from __future__ import annotations

from sqlmodel import Session, select

from kade.audit import record_event
from kade.boundary import clean_json, quarantine_key, scrub
from kade.models import Connection, Quarantine
from kade.types import RejectedRecord


def quarantine(session: Session, connection: Connection, kind: str, rejected: RejectedRecord) -> None:
    """Keep ``rejected`` (an ``order`` or a ``product``) of ``connection`` with its reason."""
    assert connection.id is not None
    key, reason, raw = quarantine_key(rejected.remote_id), scrub(rejected.reason), clean_json(rejected.raw)
    existing = session.exec(
        select(Quarantine).where(Quarantine.connection_id == connection.id, Quarantine.kind == kind,
                                 Quarantine.remote_id == key)
    ).first()
    if existing is None:
        session.add(Quarantine(connection_id=connection.id, kind=kind, remote_id=key, reason=reason, raw=raw))
        record_event(session, f"{kind}_quarantined", "rejected", f"{kind} {key}: {reason}",
                     tenant_id=connection.tenant_id, connection_id=connection.id)
    else:
        existing.reason = reason
        existing.raw = raw
        existing.resolved_at = None
        session.add(existing)
