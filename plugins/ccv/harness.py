"""A simulated CCV shop with the controls the demo and the conformance kit use.

The shop is reached with back-office API keys; ``migration_target`` creates the keys an App
Store install hands over. The shop's limits are high (the kit imports a few hundred orders in
seconds) and the connection's budget sits just under them. A shipment is a PATCH that set the
order's status to 5: the shop records each one, so a duplicate report can never hide.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.ccv.simulator import CcvSimulator, CcvState, create_app
from kade.plugins.ccv.simulator.state import HOST, Order, Product
from kade.sim.base import SimClock
from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment

#: the write whose answer ``drop_next_shipment_answer`` loses
SHIPMENT_WRITE = r"/api/rest/v1/orders/\d+/?$"
#: the read ``time_out_next_read`` leaves unanswered
ORDER_READ = r"/api/rest/v1/orders"
LIMITS = (6000, 3000)


class CcvHarness(Harness):
    platform = "ccv"
    base_url = f"https://{HOST}"
    hosts = (HOST,)
    auth_method = "api_key"

    def __init__(self, *, limits: tuple[int, int] = LIMITS, page_size: int = 50) -> None:
        self.clock = SimClock()
        self.sim = CcvState(clock=self.clock, limits=limits)
        self.key = self.sim.create_key()
        self._app: CcvSimulator = create_app(self.sim)
        self._limits = limits
        self._page_size = page_size
        self._skus = 0
        self._app_key: Any = None

    def app(self) -> Any:
        return self._app

    def credentials(self) -> dict[str, str]:
        return {"public_key": self.key.public, "secret_key": self.key.secret}

    def settings(self) -> dict[str, str]:
        total, per_method = self._limits
        return {"page_size": str(self._page_size), "requests_per_minute": str(total - 10),
                "requests_per_minute_per_method": str(per_method - 10)}

    def _product(self, stock: int) -> Product:
        self._skus += 1
        return self.sim.add_product(f"CCV-{self._skus:05d}", ean=f"87{self._skus:011d}", stock=stock)

    def _seed(self, units: int) -> Order:
        return self.sim.create_order([(self._product(5), units)])

    @staticmethod
    def _seeded(order: Order) -> SeededOrder:
        return SeededOrder(remote_id=str(order.id), number=str(order.ordernumber),
                           lines={str(r.id): (r.sub_sku_number or r.product_number, int(r.count))
                                  for r in order.rows})

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        return [self._seeded(self._seed(units)) for _ in range(count)]

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        return [(f"p:{p.id}", p.productnumber) for p in (self._product(0) for _ in range(count))]

    def seed_shipped_order(self) -> SeededOrder:
        order = self._seed(2)
        self.sim.set_status(order, 5)
        return self._seeded(order)

    def seed_malformed_order(self) -> str:
        """An order whose row went wrong in the shop: a negative ``count``."""
        order = self._seed(2)
        with self.sim.lock:
            order.rows[0].count = -1.0
        return str(order.id)

    def cancel_order(self, remote_id: str) -> None:
        self.sim.set_status(self.sim.orders[int(remote_id)], 8)

    def order_cancelled(self, remote_id: str) -> bool:
        return self.sim.orders[int(remote_id)].status == 8

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        order = self.sim.orders[int(remote_id)]
        with self.sim.lock:
            reports = [StoreShipment(tracking_code=code or None) for code in order.sent_reports]
            if not reports and order.status in (5, 6, 7):  # sent from the back office
                reports = [StoreShipment(tracking_code=order.track_and_trace_code or None)]
            return reports

    def stock(self, remote_product_id: str) -> int | None:
        kind, _, number = remote_product_id.partition(":")
        item = (self.sim.products if kind == "p" else self.sim.combinations).get(int(number))
        return None if item is None else int(item.stock)

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        kind, _, number = remote_product_id.partition(":")
        with self.sim.lock:
            (self.sim.products if kind == "p" else self.sim.combinations)[int(number)].stock = float(quantity)

    def unfired_faults(self) -> list[str]:
        return [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]

    def revoke_credentials(self) -> None:
        self.sim.revoke(self.key.public)
        if self._app_key is not None:
            self.sim.revoke(self._app_key.public)

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", SHIPMENT_WRITE, method="PATCH")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/", retry_after=retry_after)

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", ORDER_READ, method="GET")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", SHIPMENT_WRITE, method="PATCH")

    def expire_access_token(self) -> None:
        raise ControlUnsupported("CCV Shop signs every request with the API key pair; there is no access token")

    def migration_target(self) -> tuple[str, dict[str, str]]:
        """The shop installs Kade's app from the App Store: the handshake hands over new keys."""
        self._app_key = self.sim.create_key(kind="app")
        return "app", {"public_key": self._app_key.public, "secret_key": self._app_key.secret}
