"""Finding the warehouse product of an order line (rule R6), a page at a time."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from kade.audit import record_event
from kade.db import one_of
from kade.models import (
    Connection,
    Product,
    ProductLink,
)
from kade.products import find_or_create_product
from kade.types import (
    RemoteOrderLine,
)


class ProductResolver:
    """Finds (and, when allowed, creates) the warehouse product of an order line (rule R6).

    ``prefetch`` answers a whole page with a few set queries; the cache lives for one import
    run, so a product seen on page one costs nothing on page fifty.
    """

    def __init__(self, session: Session, connection: Connection,
                 cache: dict[tuple[str | None, str | None], int | None] | None = None) -> None:
        self.session = session
        self.connection = connection
        self.order = str(connection.settings.get("product_match", "sku_first"))
        self.auto_import = bool(connection.settings.get("import_products", True))
        self._cache = cache if cache is not None else {}
        self._linked: set[str] = set()
        self.created = 0

    def prefetch(self, lines: Iterable[RemoteOrderLine]) -> None:
        lines = list(lines)
        pairs = {(li.sku, li.ean) for li in lines} - set(self._cache)
        skus = {sku for sku, _ in pairs if sku}
        eans = {ean for _, ean in pairs if ean}
        tenant = self.connection.tenant_id
        by_sku: dict[str, int] = {}
        by_ean: dict[str, int] = {}
        if skus:
            for pid, found_sku in self.session.exec(select(Product.id, Product.sku).where(
                    Product.tenant_id == tenant, col(Product.sku).in_(skus)).order_by(col(Product.id))).all():
                by_sku.setdefault(found_sku, pid or 0)
        if eans:
            for pid, found_ean in self.session.exec(select(Product.id, Product.ean).where(
                    Product.tenant_id == tenant, col(Product.ean).in_(eans)).order_by(col(Product.id))).all():
                if found_ean is not None:
                    by_ean.setdefault(found_ean, pid or 0)
        for sku, ean in pairs:
            first = by_sku.get(sku or "") if self.order == "sku_first" else by_ean.get(ean or "")
            second = by_ean.get(ean or "") if self.order == "sku_first" else by_sku.get(sku or "")
            if first or second:
                self._cache[(sku, ean)] = first or second
        remote_ids = {li.remote_product_id for li in lines if li.remote_product_id} - self._linked
        if remote_ids:
            self._linked.update(rid for rid in self.session.exec(select(ProductLink.remote_id).where(
                ProductLink.connection_id == self.connection.id,
                one_of(self.session, col(ProductLink.remote_id), remote_ids))).all()
                if rid is not None)

    def resolve(self, line: RemoteOrderLine) -> int | None:
        key = (line.sku, line.ean)
        if key in self._cache:
            product_id = self._cache[key]
        else:
            product_id = self._find_or_create(line)
            self._cache[key] = product_id
        if product_id is not None and line.remote_product_id and line.remote_product_id not in self._linked:
            self._link(product_id, line)
        return product_id

    def _find_or_create(self, line: RemoteOrderLine) -> int | None:
        product, created = find_or_create_product(
            self.session, self.connection.tenant_id, line.sku, line.ean, name=line.name, price=line.unit_price,
            order=self.order, create=self.auto_import)
        if created:
            assert product is not None
            self.created += 1
            record_event(self.session, "product_auto_imported", "ok",
                         f"{product.sku} ({product.name}) created from an order line",
                         tenant_id=self.connection.tenant_id, connection_id=self.connection.id)
        return product.id if product is not None else None

    def _link(self, product_id: int, line: RemoteOrderLine) -> None:
        assert line.remote_product_id is not None and self.connection.id is not None
        exists = self.session.exec(
            select(ProductLink.id).where(ProductLink.connection_id == self.connection.id,
                                         ProductLink.remote_id == line.remote_product_id)
        ).first()
        if exists is None:
            self.session.add(ProductLink(connection_id=self.connection.id, product_id=product_id,
                                         remote_id=line.remote_product_id, remote_sku=line.sku,
                                         remote_ean=line.ean))
        self._linked.add(line.remote_product_id)
