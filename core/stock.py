"""Stock changes → coalesced, batched pushes (rule R7).

A change never pushes directly. It makes sure one *pending* stock action exists per (connection,
product link): the key ``stock:<connection>:<link>:pending`` is unique, so later changes within
the window find it and add nothing — that is the coalescing. The worker reads the current value
when it sends, skips values equal to what was last pushed, and batches per connection.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.errors import UserError
from kade.models import ActionKind, Connection, Product, ProductLink, Tenant, utcnow
from kade.outbox import NewAction, add_actions


def pending_key(connection_id: int, link_id: int) -> str:
    return f"stock:{connection_id}:{link_id}:pending"


def effective_stock(session: Session, product: Product) -> int:
    """The stock a store sees for ``product``: with a barcode shared by several warehouse
    products, the stock of the most recently modified one (rule R7)."""
    assert product.id is not None
    return effective_stocks(session, [product])[product.id]


def effective_stocks(session: Session, products: Iterable[Product]) -> dict[int, int]:
    """``effective_stock`` for many products with one query per tenant (batches, nightly pages)."""
    items = list(products)
    result = {p.id: p.stock for p in items if p.id is not None}
    by_tenant: dict[int, set[str]] = {}
    for p in items:
        if p.ean:
            by_tenant.setdefault(p.tenant_id, set()).add(p.ean)
    for tenant_id, eans in by_tenant.items():
        latest: dict[str, int] = {}
        rows = session.exec(
            select(Product.ean, Product.stock)
            .where(Product.tenant_id == tenant_id, col(Product.ean).in_(eans))
            .order_by(col(Product.updated_at).desc(), col(Product.id).desc())
        ).all()
        for ean, stock in rows:
            if ean is not None:
                latest.setdefault(ean, stock)
        for p in items:
            if p.id is not None and p.ean in latest:
                result[p.id] = latest[p.ean]
    return result


def schedule_pushes(session: Session, products: Iterable[Product], window: float) -> int:
    """Queue a stock push for every link of these products on connections that send stock."""
    ids: set[int] = set()
    eans: dict[int, set[str]] = {}
    for product in products:
        assert product.id is not None
        ids.add(product.id)
        if product.ean:
            eans.setdefault(product.tenant_id, set()).add(product.ean)
    # Products sharing a barcode feed the same store product (rule R7).
    for tenant_id, values in eans.items():
        ids.update(
            pid for pid in session.exec(
                select(Product.id).where(Product.tenant_id == tenant_id, col(Product.ean).in_(values))
            ).all() if pid is not None
        )
    if not ids:
        return 0
    rows = session.exec(
        select(ProductLink.id, Connection.id, Connection.tenant_id)
        .join(Connection, col(Connection.id) == col(ProductLink.connection_id))
        .where(
            col(ProductLink.product_id).in_(ids),
            Connection.send_stock == sa.true(),
            Connection.status != "disabled",
            ProductLink.manages_stock == sa.true(),
        )
    ).all()
    return add_actions(session, [
        NewAction(tenant_id, connection_id or 0, ActionKind.STOCK, pending_key(connection_id or 0, link_id or 0),
                  {"link_id": link_id}, delay=window)
        for link_id, connection_id, tenant_id in rows
    ])


def queue_full_push(session: Session, connection: Connection) -> int:
    """Queue a push for every linked product of ``connection`` (rule R9: a new store gets all
    stock). Values equal to what the store last reported are skipped when sent."""
    assert connection.id is not None
    links = session.exec(
        select(ProductLink.id).where(ProductLink.connection_id == connection.id,
                                     col(ProductLink.product_id).is_not(None),
                                     ProductLink.manages_stock == sa.true())
    ).all()
    created = add_actions(session, [
        NewAction(connection.tenant_id, connection.id, ActionKind.STOCK, pending_key(connection.id, link_id or 0),
                  {"link_id": link_id})
        for link_id in links
    ])
    record_event(session, "stock_full_push", "queued", f"{created} product(s) queued for {connection.name}",
                 tenant_id=connection.tenant_id, connection_id=connection.id)
    return created


def set_stock(session: Session, tenant: Tenant, sku: str, quantity: int, *, window: float) -> tuple[Product, int]:
    """Set a warehouse product's stock and queue the pushes it causes."""
    if quantity < 0:
        raise UserError("stock cannot be negative")
    product = session.exec(select(Product).where(Product.tenant_id == tenant.id, Product.sku == sku)).first()
    if product is None:
        raise UserError(f"tenant {tenant.slug!r} has no product with SKU {sku!r}")
    product.stock = quantity
    product.updated_at = utcnow()
    session.add(product)
    session.flush()
    queued = schedule_pushes(session, [product], window)
    record_event(session, "stock_changed", "ok", f"{sku} = {quantity}", tenant_id=tenant.id,
                 data={"sku": sku, "stock": quantity, "pushes_queued": queued})
    return product, queued
