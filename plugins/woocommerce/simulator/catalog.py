"""The store's products and orders, as tests, the demo and the harness seed and change them."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kade.plugins.woocommerce.simulator.deliveries import DeliveryState
from kade.plugins.woocommerce.simulator.models import LineItem, Note, Order, Product, Refund


class CatalogState(DeliveryState):
    """Products, variations, orders, status changes and refunds."""

    def add_product(
        self,
        *,
        sku: str,
        name: str | None = None,
        price: str = "9.95",
        stock: int | None = 10,
        manage_stock: bool = True,
        type: str = "simple",
        global_unique_id: str = "",
    ) -> Product:
        with self.lock:
            now = self.now()
            product = Product(
                id=self.next_id("post"),
                name=name or f"Product {sku}",
                type=type,
                sku=sku,
                price=Decimal(price),
                manage_stock=manage_stock,
                stock_quantity=stock if manage_stock else None,
                created=now,
                modified=now,
                global_unique_id=global_unique_id,
            )
            self.products[product.id] = product
            return product

    def add_variation(
        self,
        parent: Product,
        *,
        sku: str,
        price: str | None = None,
        stock: int | None = 10,
        manage_stock: bool | str = True,
        global_unique_id: str = "",
    ) -> Product:
        with self.lock:
            now = self.now()
            variation = Product(
                id=self.next_id("post"),
                name=f"{parent.name} - {sku}",
                type="variation",
                sku=sku,
                price=Decimal(price) if price else parent.price,
                manage_stock=manage_stock,
                stock_quantity=stock if manage_stock is True else None,
                created=now,
                modified=now,
                parent_id=parent.id,
                global_unique_id=global_unique_id,
            )
            self.products[variation.id] = variation
            parent.type = "variable"
            parent.variation_ids.append(variation.id)
            return variation

    def generate_products(self, count: int, *, variable_every: int = 5, variations: int = 3) -> list[Product]:
        """A seedable catalogue: simple products, and every ``variable_every``-th one variable."""
        made: list[Product] = []
        with self.lock:
            start = len([p for p in self.products.values() if p.parent_id == 0])
            for i in range(start + 1, start + count + 1):
                sku = f"SKU-{i:05d}"
                price = f"{self.rng.randint(300, 9900) / 100:.2f}"
                if variable_every and i % variable_every == 0:
                    parent = self.add_product(sku=sku, price=price, manage_stock=False, stock=None)
                    for size in ("S", "M", "L", "XL")[:variations]:
                        self.add_variation(
                            parent, sku=f"{sku}-{size}", stock=self.rng.randint(0, 50), global_unique_id=_ean(i, size)
                        )
                    made.append(parent)
                else:
                    made.append(
                        self.add_product(
                            sku=sku, price=price, stock=self.rng.randint(0, 50), global_unique_id=_ean(i, "")
                        )
                    )
        return made

    def sellable(self) -> list[Product]:
        return [p for p in self.products.values() if p.type in ("simple", "variation")]

    # ------------------------------------------------------------------ orders

    def create_order(
        self,
        lines: Iterable[tuple[Product, int]] = (),
        *,
        status: str = "processing",
        created: datetime | None = None,
        currency: str | None = None,
        emit: bool = True,
    ) -> Order:
        """An order as checkout creates it (fires ``order.created`` webhooks when ``emit``)."""
        with self.lock:
            when = created or self.now()
            order_id = self.next_id("post")
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            city, postcode = self.rng.choice(_CITIES)
            street = f"{self.rng.choice(_STREETS)} {self.rng.randint(1, 250)}"
            email = f"{first.lower()}.{last.lower().replace(' ', '')}@example.com"
            billing = {
                "first_name": first,
                "last_name": last,
                "company": "",
                "address_1": street,
                "address_2": "",
                "city": city,
                "state": "",
                "postcode": postcode,
                "country": "NL",
                "email": email,
                "phone": f"06{self.rng.randint(10000000, 99999999)}",
            }
            shipping = {k: v for k, v in billing.items() if k != "email"}
            items: list[LineItem] = []
            for product, quantity in lines:
                parent = self.products.get(product.parent_id) if product.parent_id else None
                items.append(
                    LineItem(
                        id=self.next_id("item"),
                        product_id=parent.id if parent else product.id,
                        variation_id=product.id if parent else 0,
                        name=product.name,
                        sku=product.sku,
                        quantity=quantity,
                        price=product.price,
                    )
                )
            order = Order(
                id=order_id,
                number=str(order_id),
                status=status,
                currency=currency or self.currency,
                created=when,
                modified=when,
                billing=billing,
                shipping=shipping,
                line_items=items,
                order_key="wc_order_" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=13)),
            )
            self.orders[order_id] = order
            if emit:
                self.emit("order.created", order)
            return order

    def generate_orders(
        self, count: int, *, status: str = "processing", spacing: float = 60.0, emit: bool = False
    ) -> list[Order]:
        """A seedable batch of orders, created ``spacing`` seconds apart up to now."""
        with self.lock:
            if not self.sellable():
                self.generate_products(20)
            pool = sorted(self.sellable(), key=lambda p: p.id)
            now = self.now()
            made = []
            for i in range(count):
                chosen = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 3)))
                lines = [(p, self.rng.randint(1, 3)) for p in chosen]
                when = now - timedelta(seconds=spacing * (count - i))
                made.append(self.create_order(lines, status=status, created=when, emit=emit))
            return made

    def set_order_status(self, order: Order, status: str) -> None:
        """A status change made in wp-admin or by a payment gateway (not through the API)."""
        with self.lock:
            self._change_status(order, status)
            self.emit("order.updated", order)

    def _change_status(self, order: Order, status: str) -> None:
        if status == order.status:
            return
        labels = {"on-hold": "On hold"}
        old = labels.get(order.status, order.status.capitalize())
        new = labels.get(status, status.capitalize())
        order.status = status
        order.modified = self.now()
        if status == "completed":
            order.completed = order.modified
        order.notes.append(
            Note(self.next_id("comment"), f"Order status changed from {old} to {new}.", False, order.modified)
        )

    def refund_lines(self, order: Order, quantities: Mapping[int, int], reason: str = "") -> Refund:
        """A (partial) refund of line items made in wp-admin."""
        with self.lock:
            amount = Decimal("0")
            for item in order.line_items:
                amount += item.price * quantities.get(item.id, 0)
            refund = Refund(self.next_id("post"), reason, self.now(), dict(quantities), amount)
            order.refunds.append(refund)
            order.modified = refund.created
            self.emit("order.updated", order)
            return refund

    def malform(self, order: Order, **patch: Any) -> None:
        """Make an order render with broken fields (``...`` removes a field)."""
        with self.lock:
            order.patch.update(patch)

    # ------------------------------------------------------------------ rendering

def _ean(i: int, suffix: str) -> str:
    body = f"87{i:08d}{(ord(suffix[0]) % 100) if suffix else 0:02d}"[:12]
    total = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


_FIRST = ("Anna", "Bram", "Chantal", "Daan", "Eva", "Finn", "Julia", "Lucas", "Sanne", "Thijs")
_LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")
_STREETS = ("Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Schoolstraat", "Havenkade")
_CITIES = (("Amsterdam", "1012 AB"), ("Utrecht", "3511 CD"), ("Rotterdam", "3011 EF"), ("Zwolle", "8011 GH"))


