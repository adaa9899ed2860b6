"""A simulated Shopify shop with the controls the demo and the conformance kit use.

The shop runs on a real-time clock (the core's clock and the shop's agree, so ``updated_at``
searches behave as against a live shop) and starts on the legacy static admin token, with the
client-credentials app as the migration target — the path of rule R10. Its cost bucket is
roomy so scenarios do not wait on refills; ``rate_limit_next_request`` empties it for one
request, which Shopify then answers THROTTLED. What the shop recorded is read from its state,
never from the plugin: a shipment is one fulfillment.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.shopify.simulator import (
    DEFAULT_ADMIN_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SHOP,
    Order,
    SimState,
    create_app,
    gid,
    parse_gid,
)
from kade.sim.base import SimClock
from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment, WebhookDelivery

#: Kade's webhook topics → Shopify's
TOPICS = {"order_created": "orders/create", "order_updated": "orders/updated", "order_cancelled": "orders/cancelled"}


class ShopifyHarness(Harness):
    platform = "shopify"
    base_url = f"https://{DEFAULT_SHOP}"
    hosts = (DEFAULT_SHOP,)
    auth_method = "admin_token"

    def __init__(self, *, seed: int = 0, bucket_size: float = 100_000, restore_rate: float = 50_000) -> None:
        self.clock = SimClock()
        self.sim = SimState(seed=seed, clock=self.clock, bucket_size=bucket_size, restore_rate=restore_rate)
        self._app = create_app(self.sim)
        self._skus = 0

    def app(self) -> Any:
        return self._app

    def credentials(self) -> dict[str, str]:
        return {"access_token": DEFAULT_ADMIN_TOKEN, "client_secret": DEFAULT_CLIENT_SECRET}

    def settings(self) -> dict[str, str]:
        return {"location_id": gid("Location", self.sim.primary_location.id)}

    def _sku(self) -> str:
        self._skus += 1
        return f"SHOP-{self._skus:05d}"

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for _ in range(count):
            variant = self.sim.add_product(self._sku(), barcode=None, stock=units + 3)
            order = self.sim.add_order([(variant, units)])
            seeded.append(
                SeededOrder(
                    remote_id=gid("Order", order.id),
                    number=order.name,
                    lines={gid("LineItem", li.id): (li.sku or "", li.quantity) for li in order.lines},
                )
            )
        return seeded

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        out = []
        for _ in range(count):
            sku = self._sku()
            variant = self.sim.add_product(sku, stock=0)
            out.append((gid("InventoryItem", variant.inventory_item_id), sku))
        return out

    def _order(self, remote_id: str) -> Order:
        number = parse_gid(remote_id, "Order")
        if number is None or number not in self.sim.orders:
            raise KeyError(f"no simulated order {remote_id}")
        return self.sim.orders[number]

    def cancel_order(self, remote_id: str) -> None:
        self.sim.cancel_order(self._order(remote_id))

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        with self.sim.lock:
            order = self._order(remote_id)
            return [
                StoreShipment(
                    tracking_code=next((t["number"] for t in f.tracking if t["number"]), None),
                    lines={gid("LineItem", fl.line_item_id): fl.quantity for fl in f.lines},
                )
                for f in order.fulfillments
                if f.status == "SUCCESS"
            ]

    def stock(self, remote_product_id: str) -> int | None:
        item = parse_gid(remote_product_id, "InventoryItem")
        variant = self.sim.variant_by_item(item) if item is not None else None
        level = self.sim.level(variant) if variant is not None else None
        return None if level is None else level.available

    def revoke_credentials(self) -> None:
        with self.sim.lock:
            self.sim.admin_tokens.clear()
            self.sim.app_tokens.clear()
            self.sim.apps.clear()

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject_fault("fulfillmentCreate", "timeout_after")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.throttle_pause = retry_after
        self.sim.inject_fault("*", "throttle")

    def migration_target(self) -> tuple[str, dict[str, str]]:
        return "client_credentials", {"client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}

    def settle(self) -> None:
        """Finish Shopify's asynchronous jobs (orderCancel runs as a job a few seconds later)."""
        with self.sim.lock:
            pending = [job.ready_at for job in self.sim.jobs.values() if not job.done]
        if pending and max(pending) > self.clock.now():
            self.clock.advance(max(pending) - self.clock.now())
        self.sim.run_due_jobs()

    def unfired_faults(self) -> list[str]:
        return [f"{f.kind} {f.operation}" for f in self.sim.scripted_faults]

    def time_out_next_read(self) -> None:
        self.sim.inject_fault("orders", "timeout_before")

    def time_out_next_write(self) -> None:
        self.sim.inject_fault("fulfillmentCreate", "timeout_before")

    def expire_access_token(self) -> None:
        raise ControlUnsupported("the connection uses an offline Admin API access token, which does not expire")

    def seed_shipped_order(self) -> SeededOrder:
        [seeded] = self.seed_orders(1, units=1)
        with self.sim.lock:
            order = self._order(seeded.remote_id)
            for line in order.lines:
                line.fulfilled = line.current_quantity
            for fo in order.fulfillment_orders:
                for fo_line in fo.lines:
                    fo_line.remaining = 0
                fo.status = "CLOSED"
            self.sim.touch(order)
        return seeded

    def seed_malformed_order(self) -> str:
        [seeded] = self.seed_orders(1, units=1)
        with self.sim.lock:
            line = self._order(seeded.remote_id).lines[0]
            line.quantity = line.current_quantity = -1  # a quantity no order line can have
        return seeded.remote_id

    def order_cancelled(self, remote_id: str) -> bool:
        return self._order(remote_id).cancelled_at is not None

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        item = parse_gid(remote_product_id, "InventoryItem")
        variant = self.sim.variant_by_item(item) if item is not None else None
        level = self.sim.level(variant) if variant is not None else None
        if level is None:
            raise KeyError(f"no simulated inventory level for {remote_product_id}")
        with self.sim.lock:
            level.available = quantity

    def webhook_delivery(self, remote_id: str, *, topic: str = "order_updated") -> WebhookDelivery:
        delivery = self.sim.delivery(TOPICS[topic], self._order(remote_id))
        return WebhookDelivery(headers=dict(delivery.headers), body=delivery.body)
