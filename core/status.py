"""The one audited path through which a connection changes status (principle 5).

Nothing else assigns ``Connection.status``. Every change records who made it and why, writes an
event, and — for the states that stop work — a notification. There is no silent deactivation.
"""

from __future__ import annotations

from sqlmodel import Session

from kade.audit import clear_notifications, notify, record_event
from kade.errors import UserError
from kade.models import Connection, ConnectionStatus, ConnectionStatusChange, utcnow

# Which transitions are allowed; anything else is a bug or an operator mistake.
ALLOWED: dict[ConnectionStatus, set[ConnectionStatus]] = {
    ConnectionStatus.NEW: {ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED, ConnectionStatus.NEEDS_REAUTH,
                           ConnectionStatus.DISABLED},
    ConnectionStatus.ACTIVE: {ConnectionStatus.PAUSED, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.DISABLED},
    ConnectionStatus.PAUSED: {ConnectionStatus.ACTIVE, ConnectionStatus.NEEDS_REAUTH, ConnectionStatus.DISABLED},
    ConnectionStatus.NEEDS_REAUTH: {ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED, ConnectionStatus.DISABLED},
    ConnectionStatus.DISABLED: {ConnectionStatus.ACTIVE, ConnectionStatus.PAUSED},
}
#: statuses in which orders and products are imported (a new connection imports; rule R5)
RUNNING = {ConnectionStatus.NEW, ConnectionStatus.ACTIVE}
#: statuses in which stock, shipments and cancellations are sent (only after activation; rule R5)
SENDING = {ConnectionStatus.ACTIVE}


def login_rejected(session: Session, connection: Connection, exc: Exception, *, actor: str = "worker") -> bool:
    """The store refused the connection's login: ``needs_reauth``, the one audited path for every
    job that meets it (an import, an action, the nightly check, the credentials check)."""
    return change_status(session, connection, ConnectionStatus.NEEDS_REAUTH, reason=str(exc) or "auth rejected",
                         actor=actor)


def change_status(
    session: Session,
    connection: Connection,
    to: ConnectionStatus,
    *,
    reason: str,
    actor: str,
) -> bool:
    """Move ``connection`` to ``to``; returns False when it already was there (no new audit row)."""
    if not reason.strip():
        raise ValueError("a status change needs a reason")
    current = ConnectionStatus(connection.status)
    if current == to:
        return False
    if to not in ALLOWED[current]:
        raise UserError(f"connection {connection.name!r} cannot go from {current} to {to}")
    assert connection.id is not None
    session.add(
        ConnectionStatusChange(
            connection_id=connection.id, from_status=current.value, to_status=to.value, reason=reason, actor=actor
        )
    )
    connection.status = to
    connection.updated_at = utcnow()
    if to == ConnectionStatus.ACTIVE and connection.activated_at is None:
        connection.activated_at = utcnow()
    session.add(connection)
    record_event(
        session,
        "connection_status",
        to.value,
        f"{connection.name}: {current} → {to} by {actor}: {reason}",
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        data={"from": current.value, "to": to.value, "actor": actor},
    )
    from kade.outbound import emit

    emit(session, connection.tenant_id, "connections.status_changed", f"connection:{connection.id}",
         {"connection": {"id": connection.id, "name": connection.name, "platform": connection.platform,
                         "from": current.value, "to": to.value, "reason": reason}})
    if to == ConnectionStatus.NEEDS_REAUTH:
        notify(
            session,
            "needs_reauth",
            f"Connection {connection.name!r} ({connection.platform}) needs re-authorisation: {reason}. "
            "Its orders, stock and shipments wait until new credentials are given.",
            dedupe_key=f"needs_reauth:{connection.id}",
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
        )
    elif to == ConnectionStatus.DISABLED:
        notify(
            session,
            "connection_disabled",
            f"Connection {connection.name!r} ({connection.platform}) was disabled by {actor}: {reason}",
            dedupe_key=f"disabled:{connection.id}:{utcnow().isoformat()}",
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
        )
    elif current == ConnectionStatus.NEEDS_REAUTH:
        clear_notifications(session, connection_id=connection.id, kind="needs_reauth")
    return True
