"""Two tenants with products, orders, notifications and keys, for the API's tests.

Everything of tenant B carries the marker ``ZZBETA`` (SKUs, order numbers, names, messages), so
a response to tenant A that contains it is a cross-tenant leak, whatever the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import col, select

from kade.apikeys import create_key
from kade.app import Kade
from kade.audit import notify
from kade.catalog import link_store_products
from kade.ingest import import_orders
from kade.models import Action, ActionKind, Notification, Order
from kade.outbound import add_subscription, emit
from kade.products import upsert_products
from kade.tenants import get_tenant
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakeStore

MARKER = "ZZBETA"


@dataclass
class Side:
    slug: str
    connection_id: int
    order_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    skus: list[str] = field(default_factory=list)
    write_key: str = ""
    read_key: str = ""
    subscription_ids: list[int] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)


@dataclass
class World:
    a: Side
    b: Side
    operator_key: str


def _side(kade: Kade, store: FakeStore, slug: str, prefix: str, orders: int) -> Side:
    conn = make_connection(kade, tenant=slug, name=f"{prefix.lower()}-shop")
    assert conn.id is not None
    skus = [f"{prefix}-{i}" for i in range(1, 4)]
    with kade.db.transaction() as session:
        tenant = get_tenant(session, slug)
        upsert_products(session, tenant, [{"sku": sku, "ean": f"87{i}{len(prefix)}", "name": f"{prefix} item {i}",
                                           "price": "9.95", "stock": 5} for i, sku in enumerate(skus)])
    store.products.clear()
    for sku in skus:
        store.add_product(f"remote-{sku}", sku, None, stock=5)
    link_store_products(kade, conn.id)
    store.orders.clear()
    for i in range(orders):
        store.add_order(f"{prefix}-R{i}", [(skus[0], None, 2), (skus[1], None, 1)], minute=i)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        tenant = get_tenant(session, slug)
        assert tenant.id is not None
        notify(session, "stock_rejected", f"{prefix}: the store refused stock for {skus[0]}",
               dedupe_key=f"world:{slug}", tenant_id=tenant.id, connection_id=conn.id)
        order_ids = [o for o in session.exec(select(Order.id).where(Order.tenant_id == tenant.id)
                                             .order_by(col(Order.id))).all() if o is not None]
        notes = [n for n in session.exec(select(Notification.id).where(Notification.tenant_id == tenant.id)
                                         .order_by(col(Notification.id))).all() if n is not None]
        write = create_key(session, tenant, "write").token
        read = create_key(session, tenant, "read").token
        sub, _secret = add_subscription(session, kade.vault, tenant, f"https://wms.example/{prefix}/hook",
                                        ["orders.created"])
        assert sub.id is not None
        emit(session, tenant.id, "orders.created", f"order:{order_ids[0]}", {"order": {"number": f"{prefix}-R0"}})
        deliveries = [d for d in session.exec(select(Action.id).where(Action.kind == ActionKind.WEBHOOK,
                                                                      Action.tenant_id == tenant.id)).all()
                      if d is not None]
    return Side(slug, conn.id, order_ids, notes, skus, write, read, [sub.id], deliveries)


def build_world(kade: Kade, store: FakeStore, *, orders: int = 3) -> World:
    a = _side(kade, store, "acme", "ACME", orders)
    b = _side(kade, store, "beta", MARKER, orders)
    with kade.db.transaction() as session:
        operator = create_key(session, None, "operator").token
    return World(a, b, operator)
