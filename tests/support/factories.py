"""Small builders for test data through the same service functions the CLI uses."""

from __future__ import annotations

from typing import Any

from kade.app import Kade
from kade.connections import add_connection, update_setting
from kade.models import Connection, ConnectionStatus, Product, ProductLink, Tenant
from kade.status import change_status
from kade.tenants import add_tenant, enable_platform, get_tenant


def make_connection(
    kade: Kade,
    *,
    tenant: str = "acme",
    name: str = "shop",
    platform: str = "fake",
    token: str = "good",
    active: bool = True,
    send_stock: bool = True,
    send_shipments: bool = True,
    settings: dict[str, str] | None = None,
) -> Connection:
    with kade.db.transaction() as session:
        try:
            t = get_tenant(session, tenant)
        except Exception:
            t = add_tenant(session, tenant)
        enable_platform(session, kade.pm, t, platform)
        conn = add_connection(
            session, kade.pm, kade.vault, t, platform_name=platform, name=name,
            base_url="https://store.example", credentials={"token": token}, settings=settings or {},
        )
        if send_stock:
            update_setting(session, kade.pm, conn, "send_stock", "on")
        if send_shipments:
            update_setting(session, kade.pm, conn, "send_shipments", "on")
        if active:
            change_status(session, conn, ConnectionStatus.ACTIVE, reason="test", actor="test")
        session.flush()
        session.expunge(conn)
        return conn


def tenant_of(kade: Kade, slug: str = "acme") -> Tenant:
    with kade.db.session() as session:
        return get_tenant(session, slug)


def linked_products(kade: Kade, connection: Connection, count: int, *, prefix: str = "P", stock: int = 1,
                    store: Any = None) -> None:
    """``count`` warehouse products ``<prefix>0``... linked to store products ``r0``... whose last
    pushed stock is ``stock`` (and added to the fake ``store`` when given)."""
    with kade.db.transaction() as session:
        for i in range(count):
            product = Product(tenant_id=connection.tenant_id, sku=f"{prefix}{i}", stock=stock)
            session.add(product)
            session.flush()
            session.add(ProductLink(connection_id=connection.id, product_id=product.id, remote_id=f"r{i}",
                                    last_pushed_stock=stock))
            if store is not None:
                store.add_product(f"r{i}", f"{prefix}{i}", None, stock=stock)

