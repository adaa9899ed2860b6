"""Catalogue linking: the store's products, read through the plugin's ``read_products``, linked to
warehouse products (rule R6).

Links are made by the connection's matching order (product code then barcode, or the reverse;
several matches → the first). Unknown store products become warehouse products unless product
import (the connection's ``import_products`` setting) is off. Each product first passes the
boundary checks orders pass (``kade.boundary``): one the schema cannot hold is quarantined and
the rest of its page is linked.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from kade.app import Kade
from kade.audit import record_event
from kade.boundary import check_product, fit_product
from kade.db import BULK_ANALYZE, refresh_statistics
from kade.ingest.quarantine import quarantine
from kade.models import ProductLink
from kade.products import find_or_create_product
from kade.types import RejectedRecord, RemoteProduct


@dataclass
class CatalogStats:
    linked: int = 0
    created: int = 0
    unmatched: int = 0
    quarantined: int = 0


def link_store_products(kade: Kade, connection_id: int) -> CatalogStats:
    """Page through the store's products and link (or create) their warehouse products."""
    connection = kade.load_connection(connection_id)
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    order = str(connection.settings.get("product_match", "sku_first"))
    auto = bool(connection.settings.get("import_products", True))
    stats = CatalogStats()
    token: str | None = None
    while True:
        page = platform.read_products(ctx, token)
        with kade.db.transaction() as session:
            for rejected in page.rejected:
                quarantine(session, connection, "product", rejected)
                stats.quarantined += 1
            products: list[RemoteProduct] = []
            for remote in page.products:
                reason = check_product(remote)
                if reason is None:
                    products.append(fit_product(remote))
                    continue
                quarantine(session, connection, "product", RejectedRecord(
                    remote_id=remote.remote_id, reason=reason, raw=remote.model_dump()))
                stats.quarantined += 1
            remote_ids = [p.remote_id for p in products]
            links = {
                link.remote_id: link
                for link in session.exec(
                    select(ProductLink).where(ProductLink.connection_id == connection_id,
                                              col(ProductLink.remote_id).in_(remote_ids))
                ).all()
            }
            for remote in products:
                link = links.get(remote.remote_id)
                if link is not None and link.product_id is not None:
                    link.manages_stock = remote.manages_stock
                    session.add(link)
                    continue
                product, created = find_or_create_product(
                    session, connection.tenant_id, remote.sku, remote.ean, name=remote.name, price=remote.price,
                    order=order, create=auto)
                stats.created += created
                if product is None:
                    stats.unmatched += 1
                    continue
                if link is None:
                    link = ProductLink(connection_id=connection_id, remote_id=remote.remote_id)
                link.product_id = product.id
                link.remote_sku = remote.sku
                link.remote_ean = remote.ean
                link.manages_stock = remote.manages_stock
                link.last_pushed_stock = remote.stock
                session.add(link)
                stats.linked += 1
        if page.next_page_token is None:
            break
        token = page.next_page_token
    with kade.db.transaction() as session:
        if stats.linked + stats.created >= BULK_ANALYZE:
            refresh_statistics(session, "products", "product_links")
        record_event(session, "products_linked", "ok",
                     f"{stats.linked} linked, {stats.created} created, {stats.unmatched} without a match",
                     tenant_id=connection.tenant_id, connection_id=connection_id)
    return stats
