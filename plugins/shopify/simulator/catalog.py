"""The shop's locations, products, variants and inventory levels."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from kade.plugins.shopify.simulator.base import StateBase
from kade.plugins.shopify.simulator.models import Level, Location, Variant


class CatalogState(StateBase):
    """Locations and the catalogue, as tests and the demo seed them."""

    def add_product(
        self,
        sku: str | None,
        *,
        barcode: str | None = None,
        title: str | None = None,
        price: str | Decimal = "10.00",
        stock: int = 0,
        tracked: bool = True,
        locations: Iterable[Location] | None = None,
    ) -> Variant:
        """Add a one-variant product stocked (``stock`` available) at ``locations`` (default: primary)."""
        with self.lock:
            product_id = self.next_id("Product")
            variant = Variant(
                id=self.next_id("ProductVariant"),
                product_id=product_id,
                inventory_item_id=self.next_id("InventoryItem"),
                sku=sku,
                barcode=barcode,
                title="Default Title",
                product_title=title or f"Product {sku or product_id}",
                price=Decimal(str(price)),
                tracked=tracked,
                created_at=self.now(),
            )
            self.variants[variant.id] = variant
            self._by_item[variant.inventory_item_id] = variant
            for loc in locations if locations is not None else [self.primary_location]:
                self.levels[(variant.inventory_item_id, loc.id)] = Level(available=stock, updated_at=self.now())
            return variant

    def seed_catalog(self, count: int) -> list[Variant]:
        """Products with EAN-13 barcodes and random stock, reproducible from the seed."""
        made = []
        for n in range(count):
            ean = f"87{self.rng.randrange(10**10):010d}"
            ean += str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(ean)) % 10) % 10)
            made.append(
                self.add_product(
                    f"SKU-{n + 1:05d}",
                    barcode=ean,
                    title=f"Article {n + 1}",
                    price=Decimal(self.rng.randrange(199, 9999)) / 100,
                    stock=self.rng.randrange(0, 50),
                )
            )
        return made

    def variant_by_item(self, item_id: int) -> Variant | None:
        return self._by_item.get(item_id)

    def level(self, variant: Variant, location: Location | None = None) -> Level | None:
        loc = location or self.primary_location
        return self.levels.get((variant.inventory_item_id, loc.id))

