"""Stock changes → coalesced, batched pushes (rule R7).

A change never pushes directly. It makes sure one *pending* stock action exists per (connection,
product link): the key ``stock:<connection>:<link>:pending`` is unique, so later changes within
the window find it and add nothing — that is the coalescing. The worker reads the current value
when it sends, skips values equal to what was last pushed, and batches per connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.db import one_of
from kade.errors import UserError
from kade.inputs import check_count
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
            .where(Product.tenant_id == tenant_id, one_of(session, col(Product.ean), sorted(eans)))
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
    products, queued = set_stocks(session, tenant, {sku: quantity}, window=window)
    return products[0], queued


#: SKUs per statement: well inside SQLite's and PostgreSQL's bound-parameter limits
CHUNK = 5000


def set_stocks(session: Session, tenant: Tenant, changes: Mapping[str, int], *,
               window: float) -> tuple[list[Product], int]:
    """Set many products' stock at once (``kade stock set``, the HTTP API) and queue their pushes.

    All or nothing: an unknown SKU or a negative quantity refuses the whole change, naming it.
    """
    negative = [sku for sku, quantity in changes.items() if quantity < 0]
    if negative:
        raise UserError(f"stock cannot be negative ({', '.join(negative[:5])})")
    for sku, quantity in changes.items():
        check_count(quantity, f"stock of {sku!r}")
    skus = list(changes)
    products: list[Product] = []
    for start in range(0, len(skus), CHUNK):
        products.extend(session.exec(
            select(Product).where(Product.tenant_id == tenant.id, col(Product.sku).in_(skus[start:start + CHUNK]))
        ).all())
    if len(products) != len(skus):
        known = {p.sku for p in products}
        missing = [sku for sku in skus if sku not in known]
        shown = ", ".join(repr(s) for s in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise UserError(f"tenant {tenant.slug!r} has no product with SKU {shown}")
    now = utcnow()
    rows = []
    for product in products:
        # written below in one statement; the objects only mirror it (not dirty, no second UPDATE)
        set_committed_value(product, "stock", changes[product.sku])
        set_committed_value(product, "updated_at", now)
        rows.append({"b_id": product.id, "b_stock": product.stock, "b_at": now})
    table = Product.__table__  # type: ignore[attr-defined]
    # One statement instead of the unit of work: the API's bulk path takes thousands per call.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(
            "UPDATE products SET stock = v.stock, updated_at = :at FROM unnest(CAST(:ids AS integer[]), "
            "CAST(:stocks AS integer[])) AS v(id, stock) WHERE products.id = v.id"),
            {"ids": [r["b_id"] for r in rows], "stocks": [r["b_stock"] for r in rows], "at": now})
    else:
        session.connection().execute(
            table.update().where(table.c.id == sa.bindparam("b_id"))
            .values(stock=sa.bindparam("b_stock"), updated_at=sa.bindparam("b_at")), rows)
    queued = 0
    for start in range(0, len(products), CHUNK):
        queued += schedule_pushes(session, products[start:start + CHUNK], window)
    if len(products) == 1:
        sku, quantity = products[0].sku, products[0].stock
        record_event(session, "stock_changed", "ok", f"{sku} = {quantity}", tenant_id=tenant.id,
                     data={"sku": sku, "stock": quantity, "pushes_queued": queued})
    else:
        record_event(session, "stock_changed", "ok", f"{len(products)} products", tenant_id=tenant.id,
                     data={"products": len(products), "pushes_queued": queued})
    return products, queued
