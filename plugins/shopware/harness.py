"""A simulated Shopware 6 shop with the controls the demo and the conformance kit use.

The connection starts on an administration user's password grant (the older login) and the
migration target is an integration's access key — the move every shop makes. What the shop
recorded is read from its state: a shipment is one entry the plugin wrote into the delivery's
``customFields`` (its idempotency key with its tracking code), and any tracking code in the
delivery's list beyond those counts as another shipment, so a duplicate can never hide.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from kade.plugins.shopware.simulator.app import ShopwareSimulator, create_app
from kade.plugins.shopware.simulator.state import TOKEN_LIFETIME, Product, ShopwareState
from kade.sim.base import SimClock
from kade.testing.harness import Harness, SeededOrder, StoreShipment

HOST = "shop.shopware.test"
MARKER_FIELD = "kade_shipments"


class ShopwareHarness(Harness):
    platform = "shopware"
    base_url = f"https://{HOST}"
    hosts = (HOST,)

    def __init__(self, auth_method: str = "password", *, spec_path: Path | None = None) -> None:
        self.clock = SimClock()
        spec = None
        if spec_path is not None:
            from kade.plugins.shopware.simulator.spec import SpecChecker

            spec = SpecChecker(spec_path)
        self.sim = ShopwareState(clock=self.clock, spec=spec)
        self._app: ShopwareSimulator = create_app(self.sim)
        self.auth_method = auth_method
        self.user = self.sim.add_user("kade-admin")
        self.integration = self.sim.add_integration("Kade")
        self.sim.register_app()
        self._skus = 0

    def app(self) -> Any:
        return self._app

    def credentials(self) -> dict[str, str]:
        if self.auth_method == "password":
            return {"username": self.user.username, "password": self.user.password}
        return {"client_id": self.integration.access_key, "client_secret": self.integration.secret}

    def settings(self) -> dict[str, str]:
        return {"webhook_secret": self.sim.app_secret or ""}

    def _product(self, stock: int) -> Product:
        self._skus += 1
        return self.sim.add_product(f"SW-{self._skus:05d}", stock=stock, ean=f"87{self._skus:011d}")

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for _ in range(count):
            order = self.sim.place_order([(self._product(stock=units + 5), units)])
            seeded.append(SeededOrder(remote_id=order.id, number=order.number, lines={
                li.id: (li.product.product_number if li.product else "", li.quantity) for li in order.line_items}))
        return seeded

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        return [(p.id, p.product_number) for p in (self._product(stock=0) for _ in range(count))]

    def cancel_order(self, remote_id: str) -> None:
        self.sim.transition_order(remote_id, "cancel")

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        with self.sim.lock:
            order = self.sim.orders[remote_id]
            out: list[StoreShipment] = []
            for delivery in order.deliveries:
                marks = delivery.custom_fields.get(MARKER_FIELD) or {}
                out += [StoreShipment(tracking_code=code or None) for code in marks.values()]
                extra = Counter(delivery.tracking_codes) - Counter(code for code in marks.values() if code)
                out += [StoreShipment(tracking_code=code) for code in extra.elements()]
            return out

    def delivery_state(self, remote_id: str) -> str:
        return self.sim.orders[remote_id].deliveries[0].state

    def stock(self, remote_product_id: str) -> int | None:
        product = self.sim.products.get(remote_product_id)
        return None if product is None else product.stock

    def revoke_credentials(self) -> None:
        principal = self.user.username if self.auth_method == "password" else self.integration.access_key
        self.sim.revoke(principal)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", r"/api/order-delivery/", method="PATCH")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/api/", retry_after=retry_after)

    def expire_tokens(self) -> None:
        """Move the shop's clock past every token's 600 s lifetime."""
        self.clock.advance(TOKEN_LIFETIME + 1)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        if self.auth_method == "password":
            fresh = self.sim.add_integration("Kade (migrated)")
            return "client_credentials", {"client_id": fresh.access_key, "client_secret": fresh.secret}
        user = self.sim.add_user("kade-fallback")
        return "password", {"username": user.username, "password": user.password}
