"""Quarantined store records: listing them, and importing one again after its cause was fixed."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import record_event
from kade.errors import UserError
from kade.ingest import ImportStats, import_orders
from kade.models import Connection, Quarantine, utcnow


def list_quarantine(session: Session, *, tenant_ids: Collection[int] | None = None,
                    open_only: bool = True) -> list[tuple[Quarantine, Connection]]:
    """Records with their connection, newest first; ``tenant_ids`` None: every tenant's."""
    query = (select(Quarantine, Connection).join(Connection, col(Connection.id) == col(Quarantine.connection_id))
             .order_by(col(Quarantine.id).desc()))
    if tenant_ids is not None:
        query = query.where(col(Connection.tenant_id).in_(list(tenant_ids) or [-1]))
    if open_only:
        query = query.where(col(Quarantine.resolved_at).is_(None))
    return [(q, c) for q, c in session.exec(query).all()]


@dataclass
class ReimportResult:
    resolved: bool
    reason: str | None
    stats: ImportStats


def import_again(kade: Kade, quarantine_id: int, *, actor: str) -> ReimportResult:
    """Run a full import of the record's connection; the record stays resolved unless refused again.

    The record is marked resolved first: the ingest path re-opens it (``resolved_at`` back to None,
    with the new reason) when the store still offers it in a form Kade refuses. A failed import
    changes nothing.
    """
    with kade.db.transaction() as session:
        row = session.get(Quarantine, quarantine_id)
        if row is None:
            raise UserError(f"no quarantined record {quarantine_id}")
        if row.kind != "order":
            raise UserError(f"quarantined {row.kind} records are read again by the next catalogue link "
                            "(kade product import --connection)")
        connection_id = row.connection_id
        row.resolved_at = utcnow()
        session.add(row)
    try:
        stats = import_orders(kade, connection_id, full=True)
    except BaseException:
        with kade.db.transaction() as session:
            back = session.get(Quarantine, quarantine_id)
            if back is not None:
                back.resolved_at = None
                session.add(back)
        raise
    with kade.db.transaction() as session:
        after = session.get(Quarantine, quarantine_id)
        assert after is not None
        conn = session.get(Connection, connection_id)
        resolved = after.resolved_at is not None
        record_event(session, "quarantine_reimport", "ok" if resolved else "rejected",
                     f"order {after.remote_id}: "
                     + ("imported again" if resolved else f"still refused: {after.reason}"),
                     tenant_id=conn.tenant_id if conn else None, connection_id=connection_id,
                     data={"actor": actor, "quarantine_id": quarantine_id})
        return ReimportResult(resolved=resolved, reason=None if resolved else after.reason, stats=stats)
