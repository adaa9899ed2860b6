"""WooCommerce passes Kade's conformance kit: the real core, the real plugin, the simulator in-process.

It runs twice: on a plain store (a shipment is an order note) and on a store with the Shipment
Tracking extension (a note plus a tracking item, so a lost answer leaves a report half-way).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kade.plugins.woocommerce.harness import WooHarness
from kade.sim.transport import SyncASGITransport
from kade.testing import ConformanceSuite, StoreShipment


class TestWooConformance(ConformanceSuite):
    @pytest.fixture(params=[False, True], ids=["notes", "tracking-extension"])
    def harness(self, request: pytest.FixtureRequest) -> Iterator[WooHarness]:
        h = WooHarness(shipment_tracking=request.param)
        yield h
        h.close()
        # every control a scenario used must have fired, or the scenario proved nothing
        assert h.sim.scripted_faults == [], f"faults never triggered: {h.sim.scripted_faults}"


def test_scripted_faults_fire_once_and_as_asked() -> None:
    h = WooHarness()
    [order] = h.seed_orders(1)
    auth = (h.key.consumer_key, h.key.consumer_secret)
    transport = SyncASGITransport(h.app())
    try:
        with httpx.Client(transport=transport, base_url=h.base_url, auth=auth) as http:
            h.rate_limit_next_request(0.05)
            limited = http.get("/wp-json/wc/v3/orders")
            assert limited.status_code == 429 and limited.headers["retry-after"] == "0.05"
            assert http.get("/wp-json/wc/v3/orders").status_code == 200
            h.drop_next_shipment_answer()
            note = {"note": "Shipped with PostNL, tracking code 3SX1.\n[Kade shipment k1]"}
            with pytest.raises(httpx.ReadTimeout):
                http.post(f"/wp-json/wc/v3/orders/{order.remote_id}/notes", json=note)
            assert http.post(f"/wp-json/wc/v3/orders/{order.remote_id}/notes", json=note).status_code == 201
    finally:
        transport.close()
    # the dropped write was applied; the harness reports one shipment for the two notes of one key
    assert h.shipments(order.remote_id) == [StoreShipment(tracking_code="3SX1")]
    assert h.sim.scripted_faults == []
