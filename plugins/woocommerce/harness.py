"""A simulated WooCommerce store with the controls the demo and the conformance kit use.

The store is a fresh ``WooState`` on a real-time clock (the core's clock and the store's agree,
so ``modified_after`` filters behave as they do against a live shop), reached over HTTPS with
keys created in wp-admin (``basic``). What the store recorded is read from its state, never
from the plugin: a shipment is one order note carrying Kade's marker (plus, with the Shipment
Tracking extension, one tracking item).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from kade.plugins.woocommerce.client import authorize_url
from kade.plugins.woocommerce.mapping import parse_product_ref
from kade.plugins.woocommerce.simulator import Order, Webhook, WooSimulator, WooState, create_app
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment, WebhookDelivery

HOST = "shop.woo.test"
#: where the wc-auth flow sends the shop owner back and POSTs the issued keys
RETURN_URL = "https://kade.example/woocommerce/return"
CALLBACK_URL = "https://kade.example/woocommerce/callback"
#: the line the plugin writes into every shipment note (``shipping.marker``)
MARKER = re.compile(r"\[Kade shipment ([^\]]+)\]")
#: "Shipped with <carrier>, tracking code <code>." (``shipping.note_text``)
TRACKING = re.compile(r"tracking code (\S+?)\.(?:\s|$)")
#: the shipment-note write whose answer ``drop_next_shipment_answer`` loses
NOTE_WRITE = r"/wp-json/wc/v3/orders/\d+/notes/?$"
#: the secret the store signs webhook deliveries with (the connection's ``webhook_secret``)
WEBHOOK_SECRET = "conformance-webhook-secret"
TOPICS = {"order_created": "order.created", "order_updated": "order.updated", "order_cancelled": "order.updated"}


class WooHarness(Harness):
    platform = "woocommerce"
    base_url = f"https://{HOST}"
    hosts = (HOST,)
    auth_method = "basic"

    def __init__(self, *, shipment_tracking: bool = False) -> None:
        self.clock = SimClock()
        self.sim = WooState(clock=self.clock, shipment_tracking=shipment_tracking)
        self._app: WooSimulator = create_app(self.sim)
        self.key = self.sim.create_api_key(description="Kade (manual key)")
        self._skus = 0
        self._hooks = 0

    def app(self) -> Any:
        return self._app

    def settings(self) -> dict[str, str]:
        return {"webhook_secret": WEBHOOK_SECRET}

    def credentials(self) -> dict[str, str]:
        return {"consumer_key": self.key.consumer_key, "consumer_secret": self.key.consumer_secret}

    def _product(self, stock: int) -> Any:
        self._skus += 1
        return self.sim.add_product(sku=f"WOO-{self._skus:05d}", stock=stock, manage_stock=True)

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for _ in range(count):
            # ``processing`` (paid, to fulfil) is what the plugin imports by default
            order = self.sim.create_order([(self._product(stock=5), units)], status="processing")
            seeded.append(
                SeededOrder(
                    remote_id=str(order.id),
                    number=order.number,
                    lines={str(item.id): (item.sku, item.quantity) for item in order.line_items},
                )
            )
        return seeded

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        products = [self._product(stock=0) for _ in range(count)]
        return [(str(p.id), p.sku) for p in products]

    def _order(self, remote_id: str) -> Order:
        return self.sim.orders[int(remote_id)]

    def cancel_order(self, remote_id: str) -> None:
        self.sim.set_order_status(self._order(remote_id), "cancelled")

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        """One entry per Kade shipment the store holds a note for; tracking items without a
        note (an extension write on its own) count too, so a duplicate can never hide."""
        with self.sim.lock:
            order = self._order(remote_id)
            notes = sorted(order.notes, key=lambda n: n.id)
            trackings = list(order.trackings)
        found: dict[str, str | None] = {}
        for note in notes:
            mark = MARKER.search(note.note)
            if mark is None:
                continue
            code = TRACKING.search(note.note)
            found.setdefault(mark.group(1), code.group(1) if code else None)
        noted = set(found.values())
        out = [StoreShipment(tracking_code=code) for code in found.values()]
        out += [StoreShipment(tracking_code=t.tracking_number) for t in trackings if t.tracking_number not in noted]
        return out

    def stock(self, remote_product_id: str) -> int | None:
        product_id, variation_id = parse_product_ref(remote_product_id)
        product = self.sim.products.get(variation_id or product_id)
        return None if product is None else product.stock_quantity

    def revoke_credentials(self) -> None:
        self.sim.revoke_api_key(self.key.consumer_key)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", NOTE_WRITE, method="POST")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/", retry_after=retry_after)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        """Keys issued the way a shop owner grants them: ``/wc-auth/v1/authorize``, Approve,
        and the store POSTs the new keys to the app's callback URL."""
        url = authorize_url(
            self.base_url, app_name="Kade", user_id="kade", return_url=RETURN_URL, callback_url=CALLBACK_URL
        )
        transport = SyncASGITransport(self._app)
        try:
            with httpx.Client(transport=transport, base_url=self.base_url) as browser:
                page = browser.get(url)
                page.raise_for_status()
                grant = re.search(r'class="button-primary" href="([^"]+)"', page.text)
                if grant is None:
                    raise RuntimeError(f"no Approve link on the wc-auth page: {page.text[:200]}")
                answer = browser.get(grant.group(1))
                if answer.status_code != 302 or "success=1" not in answer.headers.get("location", ""):
                    raise RuntimeError(f"wc-auth did not grant keys: {answer.status_code} {answer.text[:200]}")
        finally:
            transport.close()
        issued = self.sim.auth_callbacks[-1].json()
        return "wc_auth", {k: str(v) for k, v in issued.items()}

    def unfired_faults(self) -> list[str]:
        return [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", "/wp-json/wc/v3/orders", method="GET")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", NOTE_WRITE, method="POST")

    def expire_access_token(self) -> None:
        raise ControlUnsupported("WooCommerce signs every request with its consumer key; there is no access token")

    def seed_shipped_order(self) -> SeededOrder:
        order = self.sim.create_order([(self._product(stock=5), 1)], status="processing")
        self.sim.set_order_status(order, "completed")
        return SeededOrder(remote_id=str(order.id), number=order.number,
                           lines={str(item.id): (item.sku, item.quantity) for item in order.line_items})

    def seed_malformed_order(self) -> str:
        order = self.sim.create_order([(self._product(stock=5), 1)], status="processing")
        with self.sim.lock:
            order.line_items[0].quantity = -1  # a plugin-edited line WooCommerce stores as is
        return str(order.id)

    def order_cancelled(self, remote_id: str) -> bool:
        return self._order(remote_id).status == "cancelled"

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        product_id, variation_id = parse_product_ref(remote_product_id)
        with self.sim.lock:
            self.sim.products[variation_id or product_id].stock_quantity = quantity

    def webhook_delivery(self, remote_id: str, *, topic: str = "order_updated") -> WebhookDelivery:
        self._hooks += 1
        hook = Webhook(id=self._hooks, name=TOPICS[topic], topic=TOPICS[topic],
                       delivery_url="https://kade.example/hooks", secret=WEBHOOK_SECRET, status="active",
                       created=self.sim.now())
        with self.sim.lock:
            delivery = self.sim._signed_delivery(hook, self.sim.render_order(self._order(remote_id)))
        return WebhookDelivery(headers=dict(delivery.headers), body=delivery.body)
