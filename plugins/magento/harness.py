"""A simulated Magento store with the controls the demo and the conformance kit use.

The connection starts on the old login method — the integration's access token as a bearer,
on a store that switched ``enable_integration_as_bearer`` back on — and ``migration_target``
offers the same integration's four credentials for OAuth 1.0a, the 2.4.4+ way. Seeded orders
are ``processing`` with the payment authorised but not captured (no invoice yet: the payment
action "Authorize", capture at shipment), so the store can still cancel them; what the store
recorded is read from its state, never from the plugin.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kade.plugins.magento.simulator import MagentoSimulator, MagentoState, SpecCheck, create_app
from kade.plugins.magento.simulator.state import Order
from kade.sim.base import SimClock
from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment

HOST = "shop.magento.test"
#: the write whose answer ``drop_next_shipment_answer`` loses
SHIP_WRITE = r"/rest/[^/]+/V1/order/\d+/ship$"
#: the read ``time_out_next_read`` loses (the order search)
ORDER_READ = r"/rest/[^/]+/V1/orders$"


class MagentoHarness(Harness):
    platform = "magento"
    base_url = f"https://{HOST}"
    hosts = (HOST,)
    auth_method = "bearer"

    def __init__(self, *, msi: bool = True, bearer_enabled: bool = True) -> None:
        self.clock = SimClock()
        self.sim = MagentoState(clock=self.clock, msi=msi, bearer_enabled=bearer_enabled)
        self._app: MagentoSimulator = create_app(self.sim)
        self.integration = self.sim.create_integration("Kade")
        self._skus = 0

    def app(self) -> Any:
        return self._app

    @property
    def spec(self) -> SpecCheck:
        """What the simulator checked against the official spec so far."""
        return self._app.spec

    def credentials(self) -> dict[str, str]:
        return {"access_token": self.integration.access_token}

    def settings(self) -> dict[str, str]:
        return {"stock_api": "msi" if self.sim.msi else "legacy", "ean_attribute": "ean"}

    def _product(self, stock: int) -> Any:
        self._skus += 1
        return self.sim.add_product(f"MAG-{self._skus:05d}", stock=stock, ean=f"87{self._skus:011d}")

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for n in range(count):
            if n % 4 == 3:  # every fourth order: a configurable product (parent + child lines)
                child = self._product(stock=10)
                parent = self.sim.add_configurable(f"CONF-{self._skus:05d}", [child])
                order = self.sim.place_order([(child, units)], child_of={child.id: parent}, invoice=False)
            else:
                order = self.sim.place_order([(self._product(stock=10), units)], invoice=False)
            seeded.append(SeededOrder(remote_id=str(order.entity_id), number=order.increment_id,
                                      lines={str(i.item_id): (i.sku, int(i.qty_ordered))
                                             for i in order.shippable()}))
        return seeded

    def seed_shipped_order(self) -> SeededOrder:
        """Paid and shipped in the admin: ``complete``, every item's ``qty_shipped`` full."""
        [seeded] = self.seed_orders(1)
        order = self._order(seeded.remote_id)
        self.sim.ship(order, [], [{"track_number": "SHOP-SHIPPED", "title": "PostNL", "carrier_code": "custom"}],
                      None, None)
        return seeded

    def seed_malformed_order(self) -> str:
        """An order whose item lost its ``qty_ordered`` (an extension rewrote the items)."""
        [seeded] = self.seed_orders(1)
        order = self._order(seeded.remote_id)
        rendered = [{"item_id": i.item_id, "sku": i.sku, "product_type": i.product_type} for i in order.items]
        self.sim.malform(order, items=rendered)
        return seeded.remote_id

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        products = [self._product(stock=0) for _ in range(count)]
        return [(p.sku, p.sku) for p in products]

    def _order(self, remote_id: str) -> Order:
        return self.sim.orders[int(remote_id)]

    def cancel_order(self, remote_id: str) -> None:
        """The shop cancels: an order not invoiced is cancelled, an invoiced one refunded (credit memo)."""
        order = self._order(remote_id)
        if not self.sim.cancel(order):
            self.sim.refund(order)

    def order_cancelled(self, remote_id: str) -> bool:
        return self._order(remote_id).state == "canceled"

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        with self.sim.lock:
            found = self.sim.shipments_of(self._order(remote_id))
            return [StoreShipment(tracking_code=s.tracks[0].track_number if s.tracks else None,
                                  lines={str(item_id): int(qty) for item_id, qty, _, _ in s.items})
                    for s in sorted(found, key=lambda s: s.entity_id)]

    def stock(self, remote_product_id: str) -> int | None:
        with self.sim.lock:
            if self.sim.msi:
                item = self.sim.source_items.get((remote_product_id, self.sim.sources[0]))
                return None if item is None else int(item.quantity)
            product = self.sim.product_by_sku(remote_product_id)
            return None if product is None else int(product.qty)

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        """The merchant edits the quantity in the admin (the source item, or the legacy stock item)."""
        with self.sim.lock:
            product = self.sim.product_by_sku(remote_product_id)
            assert product is not None, remote_product_id
            product.qty = Decimal(quantity)
            if self.sim.msi:
                self.sim.set_source_item(remote_product_id, self.sim.sources[0], Decimal(quantity),
                                         1 if quantity > 0 else 0)

    def unfired_faults(self) -> list[str]:
        return [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]

    def expire_access_token(self) -> None:
        raise ControlUnsupported("Magento integration tokens do not expire; they last until revoked")

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", ORDER_READ, method="GET")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", SHIP_WRITE, method="POST")

    def revoke_credentials(self) -> None:
        self.sim.revoke(self.integration)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", SHIP_WRITE, method="POST")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/", retry_after=retry_after)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        i = self.integration
        return "oauth1", {"consumer_key": i.consumer_key, "consumer_secret": i.consumer_secret,
                          "access_token": i.access_token, "access_token_secret": i.access_token_secret}
