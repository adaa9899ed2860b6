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
from kade.plugins.shopware.simulator.state import TOKEN_LIFETIME, LineItem, Order, Product, ShopwareState, new_id
from kade.sim.base import SimClock
from kade.testing.harness import Harness, SeededOrder, StoreShipment, WebhookDelivery

HOST = "shop.shopware.test"
MARKER_FIELD = "kade_shipments"
#: what the shop sends for each kind of change the kit asks for
WEBHOOK_EVENTS = {"order_created": ("checkout.order.placed", "order"), "order_updated": ("order.written", "order"),
                  "order_cancelled": ("state_enter.order.state.cancelled", "order")}


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

    @staticmethod
    def _seeded(order: Order) -> SeededOrder:
        return SeededOrder(remote_id=order.id, number=order.number, lines={
            li.id: (li.product.product_number if li.product else "", li.quantity) for li in order.line_items})

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        return [self._seeded(self.sim.place_order([(self._product(stock=units + 5), units)])) for _ in range(count)]

    def seed_shipped_order(self) -> SeededOrder:
        """Shipped from the administration: the delivery's ``ship`` transition, a code typed in."""
        order = self.sim.place_order([(self._product(stock=5), 1)])
        order.deliveries[0].tracking_codes.append("SHOP-SHIPPED-1")
        self.sim.transition_delivery(order.deliveries[0].id, "ship")
        return self._seeded(order)

    def seed_malformed_order(self) -> str:
        """An open order with a line of quantity -1 (a broken plugin's write): refused, not guessed."""
        order = self.sim.place_order([(self._product(stock=5), 1)])
        order.line_items.append(LineItem(id=new_id(), product=self._product(stock=5), label="broken", quantity=-1,
                                         unit_price=order.line_items[0].unit_price))
        return order.id

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        return [(p.id, p.product_number) for p in (self._product(stock=0) for _ in range(count))]

    def cancel_order(self, remote_id: str) -> None:
        self.sim.transition_order(remote_id, "cancel")

    def order_cancelled(self, remote_id: str) -> bool:
        return self.sim.orders[remote_id].state == "cancelled"

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

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        with self.sim.lock:
            product = self.sim.products[remote_product_id]
            product.stock = quantity
            product.updated_at = self.sim.now()

    def unfired_faults(self) -> list[str]:
        armed = [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]
        return armed + (["expire_access_token"] if self.sim.expiry_armed else [])

    def revoke_credentials(self) -> None:
        principal = self.user.username if self.auth_method == "password" else self.integration.access_key
        self.sim.revoke(principal)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", r"/api/order-delivery/", method="PATCH")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/api/", retry_after=retry_after)

    def expire_access_token(self) -> None:
        """End the token's lifetime now (as 600 s would); the next request meets Shopware's 401."""
        self.sim.expire_tokens()

    def advance_past_token_lifetime(self) -> None:
        """Move the shop's clock past every token's 600 s lifetime."""
        self.clock.advance(TOKEN_LIFETIME + 1)

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", r"/api/search/", method="POST")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", r"/api/order-delivery/", method="PATCH")

    def webhook_delivery(self, remote_id: str, *, topic: str = "order_updated") -> WebhookDelivery:
        event, entity = WEBHOOK_EVENTS[topic]
        with self.sim.lock:
            delivery = self.sim.signed_delivery(event, entity, remote_id)
        return WebhookDelivery(headers=dict(delivery.headers), body=delivery.body)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        if self.auth_method == "password":
            fresh = self.sim.add_integration("Kade (migrated)")
            return "client_credentials", {"client_id": fresh.access_key, "client_secret": fresh.secret}
        user = self.sim.add_user("kade-fallback")
        return "password", {"username": user.username, "password": user.password}
