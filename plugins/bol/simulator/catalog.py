"""The account's offers and orders: seeding, store-side cancellations, scripted faults."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from kade.plugins.bol.simulator.auth import AuthState
from kade.plugins.bol.simulator.models import SimOffer, SimOrder, SimOrderItem, SimShipment, _b64url
from kade.sim.base import (
    ScriptedFault,
)


class CatalogState(AuthState):
    """Offers and orders, as tests, the demo and the harness seed and change them."""

    def add_offer(
        self,
        ean: str | None = None,
        *,
        reference: str | None = None,
        title: str = "",
        price: Decimal | str = "19.99",
        stock: int = 0,
        fulfilment: Literal["FBR", "FBB"] = "FBR",
        offer_id: str | None = None,
    ) -> SimOffer:
        with self.lock:
            ean = ean or f"87{self.rng.randrange(10**10, 10**11)}"
            offer = SimOffer(
                offer_id=offer_id or self._uuid(),
                ean=ean,
                reference=reference,
                title=title or f"Product {ean}",
                price=Decimal(price),
                stock=stock,
                fulfilment=fulfilment,
                mutated_at=self.now(),
            )
            self.offers[offer.offer_id] = offer
            return offer

    def add_order(
        self,
        lines: Sequence[tuple[SimOffer, int]],
        *,
        cancellation_request: bool = False,
        placed_at: float | None = None,
        order_id: str | None = None,
    ) -> SimOrder:
        """Place an order; each line's fulfilment method is its offer's."""
        with self.lock:
            now = self.now()
            placed = now if placed_at is None else placed_at
            order = SimOrder(
                order_id=order_id or self._next_id("order", 1_100_000_000),
                placed_at=placed,
                items=[],
                customer=self._customer(),
            )
            for offer, quantity in lines:
                item = SimOrderItem(
                    order_item_id=self._next_id("item", 2_200_000_000),
                    offer=offer,
                    quantity=quantity,
                    unit_price=offer.price,
                    fulfilment=offer.fulfilment,
                    cancellation_request=cancellation_request and offer.fulfilment == "FBR",
                    changed_at=placed,
                )
                order.items.append(item)
                self._item_index[item.order_item_id] = (order, item)
            self.orders[order.order_id] = order
            return order

    def _customer(self) -> dict[str, str]:
        first = self.rng.choice(["Anna", "Bram", "Chantal", "Daan", "Eva", "Fleur", "Gijs", "Henk"])
        surname = self.rng.choice(["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Peeters", "Maes"])
        city, zip_code, country = self.rng.choice(
            [("Utrecht", "3511AB", "NL"), ("Amsterdam", "1012JS", "NL"), ("Gent", "9000", "BE")]
        )
        return {
            "firstName": first,
            "surname": surname,
            "streetName": self.rng.choice(["Kerkstraat", "Dorpsstraat", "Stationsweg"]),
            "houseNumber": str(self.rng.randrange(1, 200)),
            "zipCode": zip_code,
            "city": city,
            "countryCode": country,
            "email": f"{_b64url(self.rng.randbytes(6)).lower()}@verkopen.test.bol.com",
        }

    def generate(self, n_orders: int, *, n_offers: int | None = None) -> list[SimOrder]:
        """Add ``n_orders`` orders deterministically (from the state's seed).

        The mix: mostly retailer-fulfilled (FBR), some fully bol-fulfilled (FBB), some mixed,
        some with a customer cancellation request.
        """
        with self.lock:
            count = n_offers if n_offers is not None else max(10, n_orders // 5)
            fbr = [o for o in self.offers.values() if o.fulfilment == "FBR"]
            fbb = [o for o in self.offers.values() if o.fulfilment == "FBB"]
            for i in range(count):
                kind: Literal["FBR", "FBB"] = "FBB" if i % 5 == 4 else "FBR"
                offer = self.add_offer(
                    reference=f"SKU-{len(self.offers) + 1:05d}",
                    stock=self.rng.randrange(0, 120),
                    price=f"{self.rng.randrange(199, 9999) / 100:.2f}",
                    fulfilment=kind,
                )
                (fbb if kind == "FBB" else fbr).append(offer)
            if not fbr or not fbb:
                raise ValueError("generate() needs at least one FBR and one FBB offer")
            start = self.now() - n_orders * 60.0
            made = []
            for i in range(n_orders):
                roll = self.rng.random()
                lines: list[tuple[SimOffer, int]] = []
                if roll < 0.1:  # fully fulfilled by bol
                    lines = [(self.rng.choice(fbb), self.rng.randint(1, 2))]
                elif roll < 0.25:  # mixed
                    lines = [(self.rng.choice(fbr), self.rng.randint(1, 3)), (self.rng.choice(fbb), 1)]
                else:
                    for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
                        lines.append((self.rng.choice(fbr), self.rng.randint(1, 3)))
                made.append(self.add_order(lines, cancellation_request=0.25 <= roll < 0.32, placed_at=start + i * 60.0))
            return made

    def item(self, order_item_id: str) -> SimOrderItem:
        return self._item_index[order_item_id][1]

    def request_cancellation(self, order_item_id: str) -> None:
        """The customer asks to cancel an item before it ships."""
        with self.lock:
            item = self.item(order_item_id)
            item.cancellation_request = True
            item.changed_at = self.now()

    def cancel_item(self, order_item_id: str) -> None:
        """Bol (or the customer) cancels the item's open quantity."""
        with self.lock:
            item = self.item(order_item_id)
            item.quantity_cancelled += item.open_quantity
            item.cancellation_request = False
            item.changed_at = self.now()

    def shipments_for(self, order_id: str) -> list[SimShipment]:
        with self.lock:
            return [s for s in self.shipments if s.order_id == order_id]

    def count_requests(self, method: str, path_prefix: str = "/") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    def inject(
        self,
        kind: Literal["error", "rate_limit", "timeout", "timeout_after_apply", "slow"],
        path: str = "/",
        *,
        method: str | None = None,
        status: int = 503,
        count: int = 1,
        seconds: float = 0.0,
        retry_after: float = 1.0,
    ) -> ScriptedFault:
        """Make the next ``count`` requests to ``path`` (a prefix) fail in a given way.

        ``error`` answers ``status`` with a problem body; ``rate_limit`` answers 429 with
        ``Retry-After``; the rest are ``kade.sim.faults.FaultLayer``'s kinds.
        """
        return self.scripted_faults.add(ScriptedFault(kind, re.escape(path), method, status, count=count,
                                                      seconds=seconds, retry_after=retry_after))

