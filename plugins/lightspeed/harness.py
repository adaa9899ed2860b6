"""A simulated Lightspeed shop with the controls the demo and the conformance kit use.

The shop lives on the EU cluster with Dutch and English, on a real-time clock and the larger
plan's budget (1000/12000/288000), since the kit imports a few hundred orders in seconds. It
is reached with its own API key; ``migration_target`` installs an app on it. What the shop
recorded is read from its state: a shipment counts once it is ``shipped``.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.lightspeed.simulator import LightspeedSimulator, LightspeedState, create_app
from kade.plugins.lightspeed.simulator.ratelimit import LARGE_LIMITS
from kade.plugins.lightspeed.simulator.render import render_order
from kade.plugins.lightspeed.simulator.state import CLUSTERS, Order, Variant, Webhook
from kade.plugins.lightspeed.simulator.webhooks import signed_delivery
from kade.sim.base import SimClock
from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment, WebhookDelivery

#: the write whose answer ``drop_next_shipment_answer`` loses
SHIPMENT_WRITE = r"/[a-z]{2}/shipments/\d+\.json$"
#: the read ``time_out_next_read`` leaves unanswered
ORDER_READ = r"/[a-z]{2}/orders"
#: kit topic → Lightspeed item action
ACTIONS = {"order_created": "created", "order_updated": "updated", "order_cancelled": "updated"}


class LightspeedHarness(Harness):
    platform = "lightspeed"
    base_url = f"https://{CLUSTERS['eu1']}"
    hosts = tuple(CLUSTERS.values())
    auth_method = "api_key"

    def __init__(self, *, limits: tuple[int, int, int] = LARGE_LIMITS, page_size: int = 50) -> None:
        self.clock = SimClock()
        self.sim = LightspeedState(clock=self.clock, limits=limits)
        self.shop = self.sim.add_shop(cluster="eu1", languages=("nl", "en"))
        self.key = self.sim.create_api_key(self.shop)
        self._app: LightspeedSimulator = create_app(self.sim)
        self._page_size = page_size
        self._skus = 0
        self._app_login: Any = None
        self._hooks = 0

    def app(self) -> Any:
        return self._app

    def credentials(self) -> dict[str, str]:
        return {"api_key": self.key.key, "api_secret": self.key.secret}

    def settings(self) -> dict[str, str]:
        return {"language": "nl", "page_size": str(self._page_size)}

    def _variant(self, stock: int) -> Variant:
        self._skus += 1
        with self.sim.lock:
            return self.sim.add_variant(self.shop, sku=f"LS-{self._skus:05d}", ean=f"87{self._skus:011d}",
                                        stock=stock)

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for _ in range(count):
            order = self.sim.create_order(self.shop, [(self._variant(5), units)])
            seeded.append(SeededOrder(remote_id=str(order.id), number=order.number,
                                      lines={str(p.id): (p.sku, p.quantity) for p in order.products}))
        return seeded

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        variants = [self._variant(0) for _ in range(count)]
        return [(str(v.id), v.sku) for v in variants]

    def cancel_order(self, remote_id: str) -> None:
        self.sim.cancel_order(self.sim.orders[int(remote_id)])

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        with self.sim.lock:
            return [StoreShipment(tracking_code=s.tracking_code or None,
                                  lines={str(k): v for k, v in s.products.items()})
                    for s in self.sim.order_shipments(int(remote_id)) if s.status == "shipped"]

    def stock(self, remote_product_id: str) -> int | None:
        variant = self.sim.variants.get(int(remote_product_id))
        return None if variant is None else variant.stock_level

    def revoke_credentials(self) -> None:
        self.sim.revoke_api_key(self.key.key)
        if self._app_login is not None:
            self.sim.uninstall_app(self._app_login, self.shop)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", SHIPMENT_WRITE, method="PUT")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/", retry_after=retry_after)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        """The shop owner installs Kade's app: its key and secret, and the shop's install token."""
        app = self.sim.register_app()
        token = self.sim.install_app(app, self.shop)
        self._app_login = app
        return "app", {"app_key": app.key, "app_secret": app.secret, "shop_token": token}

    # -- the stricter kit's controls ------------------------------------------------------------

    def _seed_one(self) -> Order:
        return self.sim.create_order(self.shop, [(self._variant(5), 2)])

    def seed_shipped_order(self) -> SeededOrder:
        """Shipped from the back office: the shop's shipment is ``shipped``, the order ``completed_shipped``."""
        order = self._seed_one()
        with self.sim.lock:
            for shipment in self.sim.order_shipments(order.id):
                self.sim.mark_shipped(shipment)
        return SeededOrder(remote_id=str(order.id), number=order.number,
                           lines={str(p.id): (p.sku, p.quantity) for p in order.products})

    def seed_malformed_order(self) -> str:
        """An order whose product line went wrong in the shop: a negative ``quantityOrdered``."""
        order = self._seed_one()
        with self.sim.lock:
            order.products[0].quantity = -1
        return str(order.id)

    def order_cancelled(self, remote_id: str) -> bool:
        return self.sim.orders[int(remote_id)].status == "cancelled"

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        with self.sim.lock:
            self.sim.variants[int(remote_product_id)].stock_level = quantity

    def unfired_faults(self) -> list[str]:
        return [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", ORDER_READ, method="GET")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", SHIPMENT_WRITE, method="PUT")

    def expire_access_token(self) -> None:
        raise ControlUnsupported("Lightspeed logins are HTTP Basic with a key and secret; there is no access token")

    def webhook_delivery(self, remote_id: str, *, topic: str = "order_updated") -> WebhookDelivery:
        """What the shop POSTs for an ``orders`` webhook created with the connection's API key."""
        self._hooks += 1
        action = ACTIONS.get(topic, "updated")
        hook = Webhook(id=self._hooks, shop_id=self.shop.id, item_group="orders", item_action=action,
                       language="nl", address="https://kade.example/hooks/lightspeed", secret=self.key.secret)
        with self.sim.lock:
            order = self.sim.orders[int(remote_id)]
            payload = {"order": render_order(self.sim, order, "nl")}
        delivery = signed_delivery(hook, payload, hook.secret, "orders", action, order.id)
        return WebhookDelivery(headers=dict(delivery.headers), body=delivery.body)
