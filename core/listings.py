"""Read-side queries that the CLI, the HTTP API and the console share: one query per listing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, func, select

from kade.connections import get_connection
from kade.errors import UserError
from kade.models import (
    Action,
    ActionStatus,
    Connection,
    ConnectionStatusChange,
    Event,
    Order,
    OrderState,
    Quarantine,
    Tenant,
)
from kade.tenants import get_tenant


def connection_counts(session: Session) -> dict[int, int]:
    """Connections per tenant id (one query, not one per tenant)."""
    rows = session.exec(select(Connection.tenant_id, func.count()).group_by(col(Connection.tenant_id))).all()
    return {tenant_id: count for tenant_id, count in rows}


def tenant_slugs(session: Session) -> dict[int, str]:
    return {t.id: t.slug for t in session.exec(select(Tenant)).all() if t.id is not None}


def connection_names(session: Session, tenant_id: int | None = None) -> dict[int, str]:
    query = select(Connection)
    if tenant_id is not None:
        query = query.where(Connection.tenant_id == tenant_id)
    return {c.id: c.name for c in session.exec(query).all() if c.id is not None}


def status_history(session: Session, connection: Connection) -> list[ConnectionStatusChange]:
    return list(session.exec(
        select(ConnectionStatusChange).where(ConnectionStatusChange.connection_id == connection.id)
        .order_by(col(ConnectionStatusChange.id))
    ).all())


def list_events(session: Session, *, tenant: str | None = None, connection: str | None = None,
                kind: str | None = None, outcome: str | None = None, limit: int = 50) -> list[Event]:
    """The event log, newest first; ``connection`` is a name within ``tenant``."""
    query = select(Event).order_by(col(Event.id).desc()).limit(limit)
    if tenant:
        t_row = get_tenant(session, tenant)
        query = query.where(Event.tenant_id == t_row.id)
        if connection:
            query = query.where(Event.connection_id == get_connection(session, t_row, connection).id)
    elif connection:
        raise UserError("--connection needs --tenant")
    if kind:
        query = query.where(Event.kind == kind)
    if outcome:
        query = query.where(Event.outcome == outcome)
    return list(session.exec(query).all())


def list_actions(session: Session, *, failed: bool = False, limit: int = 50) -> list[Action]:
    query = select(Action).order_by(col(Action.id).desc()).limit(limit)
    if failed:
        query = query.where(Action.status == ActionStatus.FAILED)
    return list(session.exec(query).all())


def list_orders(session: Session, tenant: Tenant, *, connection: str | None = None, open_only: bool = False,
                limit: int = 50) -> list[Order]:
    """A tenant's orders, newest first (``open_only``: what a connection still has to ship, R9)."""
    query = select(Order).where(Order.tenant_id == tenant.id).order_by(col(Order.id).desc()).limit(limit)
    if connection:
        query = query.where(Order.connection_id == get_connection(session, tenant, connection).id)
    if open_only:
        query = query.where(col(Order.status).in_([OrderState.OPEN, OrderState.PARTIALLY_SHIPPED]))
    return list(session.exec(query).all())


def open_quarantine(session: Session, tenant: Tenant) -> Sequence[tuple[Quarantine, Connection]]:
    """Unresolved quarantined store records of a tenant, with their connection."""
    return session.exec(
        select(Quarantine, Connection).join(Connection, col(Connection.id) == col(Quarantine.connection_id))
        .where(Connection.tenant_id == tenant.id, col(Quarantine.resolved_at).is_(None))
        .order_by(col(Quarantine.id))
    ).all()
