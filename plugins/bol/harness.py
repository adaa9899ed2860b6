"""A simulated bol.com seller account with the controls the demo and the conformance kit use."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kade.plugins.bol.simulator import BolSimState, create_app
from kade.sim.base import SimClock
from kade.testing.harness import Harness, SeededOrder, StoreShipment

RETAILER = ("conf-retailer", "conf-retailer-secret")
PARTNER = ("conf-partner", "conf-partner-secret")
REDIRECT = "https://kade.example/callback/bol"


class BolHarness(Harness):
    platform = "bol"
    base_url = "https://api.bol.com"
    hosts = ("api.bol.com", "login.bol.com")
    auth_method = "client_credentials"

    def __init__(self) -> None:
        self.clock = SimClock()
        self.sim = BolSimState(clock=self.clock, process_delay=0.0, process_delays={"CREATE_OFFER_EXPORT": 0.0},
                               page_size=50)
        self.sim.add_retailer_client(*RETAILER)
        self.sim.add_intermediary_client(*PARTNER)
        self._app = create_app(self.sim)
        self._skus = 0
        #: token requests when the access token was expired (None: not expired)
        self._renewals_seen: int | None = None

    def app(self) -> Any:
        return self._app

    def credentials(self) -> dict[str, str]:
        return {"client_id": RETAILER[0], "client_secret": RETAILER[1]}

    def _offer(self, stock: int = 5) -> Any:
        self._skus += 1
        return self.sim.add_offer(reference=f"CONF-{self._skus:05d}", stock=stock)

    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        seeded = []
        for _ in range(count):
            offer = self._offer()
            order = self.sim.add_order([(offer, units)])
            seeded.append(SeededOrder(
                remote_id=order.order_id, number=order.order_id,
                lines={item.order_item_id: (item.offer.reference or item.offer.ean, item.quantity)
                       for item in order.items},
            ))
        return seeded

    def seed_products(self, count: int) -> list[tuple[str, str]]:
        offers = [self._offer(stock=0) for _ in range(count)]
        return [(o.offer_id, o.reference) for o in offers]

    def cancel_order(self, remote_id: str) -> None:
        for item in self.sim.orders[remote_id].items:
            self.sim.cancel_item(item.order_item_id)

    def shipments(self, remote_id: str) -> list[StoreShipment]:
        return [StoreShipment(tracking_code=s.track_and_trace, lines=dict(s.items))
                for s in self.sim.shipments_for(remote_id)]

    def stock(self, remote_product_id: str) -> int | None:
        offer = self.sim.offers.get(remote_product_id)
        return None if offer is None else offer.stock

    def revoke_credentials(self) -> None:
        self.sim.deactivate_client(RETAILER[0])
        self.sim.access_tokens.clear()

    def drop_next_shipment_answer(self) -> None:
        self.sim.inject("timeout_after_apply", "/retailer/shipments", method="POST")

    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        self.sim.inject("rate_limit", "/retailer/orders", method="GET", retry_after=retry_after)

    def migration_target(self) -> tuple[str, dict[str, str]]:
        code = self.sim.issue_auth_code(PARTNER[0], REDIRECT)
        return "authorization_code", {"client_id": PARTNER[0], "client_secret": PARTNER[1], "code": code,
                                      "redirect_uri": REDIRECT}

    def settle(self) -> None:
        self.sim.settle()

    def unfired_faults(self) -> list[str]:
        unfired = [f"{f.kind} {f.method or '*'} {f.path}" for f in self.sim.scripted_faults]
        if self._renewals_seen is not None and len(self.sim.token_requests) <= self._renewals_seen:
            unfired.append("expired access token: no new token was ever fetched")
        return unfired

    def time_out_next_read(self) -> None:
        self.sim.inject("timeout", "/retailer/orders", method="GET")

    def time_out_next_write(self) -> None:
        self.sim.inject("timeout", "/retailer/shipments", method="POST")

    def seed_shipped_order(self) -> SeededOrder:
        offer = self._offer()
        order = self.sim.add_order([(offer, 1)])
        with self.sim.lock:
            for item in order.items:
                item.quantity_shipped = item.quantity
                item.changed_at = self.sim.now()
        return SeededOrder(remote_id=order.order_id, number=order.order_id,
                           lines={i.order_item_id: (i.offer.reference or i.offer.ean, i.quantity) for i in order.items})

    def seed_malformed_order(self) -> str:
        order = self.sim.add_order([(self._offer(), 1)])
        detail = self.sim.order_json(order)
        detail["orderItems"][0]["quantity"] = "one"  # bol's detail with an unusable quantity
        order.detail_override = detail
        return order.order_id

    def order_cancelled(self, remote_id: str) -> bool:
        return all(item.quantity_cancelled >= item.quantity for item in self.sim.orders[remote_id].items)

    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        with self.sim.lock:
            self.sim.offers[remote_product_id].stock = quantity

    def expire_access_token(self) -> None:
        with self.sim.lock:
            for token, record in list(self.sim.access_tokens.items()):
                self.sim.access_tokens[token] = replace(record, expires_at=self.sim.now() - 10)
            self._renewals_seen = len(self.sim.token_requests)
