"""Read-side queries the CLI and the console share (events, actions and quarantine have modules of
their own: kade.eventlog, kade.recovery, kade.quarantine)."""

from __future__ import annotations

from sqlmodel import Session, col, func, select

from kade.connections import get_connection
from kade.models import (
    Connection,
    ConnectionStatusChange,
    Order,
    OrderState,
    Tenant,
)


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


def list_orders(session: Session, tenant: Tenant, *, connection: str | None = None, open_only: bool = False,
                limit: int = 50) -> list[Order]:
    """A tenant's orders, newest first (``open_only``: what a connection still has to ship, R9)."""
    query = select(Order).where(Order.tenant_id == tenant.id).order_by(col(Order.id).desc()).limit(limit)
    if connection:
        query = query.where(Order.connection_id == get_connection(session, tenant, connection).id)
    if open_only:
        query = query.where(col(Order.status).in_([OrderState.OPEN, OrderState.PARTIALLY_SHIPPED]))
    return list(session.exec(query).all())
