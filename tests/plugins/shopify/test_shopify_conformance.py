"""Shopify passes Kade's conformance kit: the real core, the real plugin, the simulator in-process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kade.plugins.shopify.harness import ShopifyHarness
from kade.plugins.shopify.queries import GRAPHQL_PATH
from kade.sim.transport import SyncASGITransport
from kade.testing import ConformanceSuite


@pytest.fixture(autouse=True)
def sleeps() -> list[float]:
    """The kit runs on real time: let the client really wait (waits here are tens of milliseconds)."""
    return []


class TestShopifyConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self) -> Iterator[ShopifyHarness]:
        h = ShopifyHarness()
        yield h
        h.close()
        # every control a scenario used must have fired, or the scenario proved nothing
        assert h.sim.scripted_faults == [], f"faults never triggered: {h.sim.scripted_faults}"


def test_harness_controls_fire_once_and_as_asked() -> None:
    h = ShopifyHarness()
    [order] = h.seed_orders(1)
    query = {"query": "{ shop { name } }"}
    token = h.credentials()["access_token"]
    transport = SyncASGITransport(h.app())
    try:
        with httpx.Client(transport=transport, base_url=h.base_url, headers={"X-Shopify-Access-Token": token}) as http:
            h.rate_limit_next_request(0.05)
            throttled = http.post(GRAPHQL_PATH, json=query).json()
            assert throttled["errors"][0]["extensions"]["code"] == "THROTTLED"
            assert http.post(GRAPHQL_PATH, json=query).json()["data"]["shop"]["name"]
    finally:
        transport.close()
    assert h.sim.scripted_faults == []
    assert h.shipments(order.remote_id) == []
    [(product, _)] = h.seed_products(1)
    assert h.stock(product) == 0
    h.revoke_credentials()
    assert h.sim.app_for_token(token) is None
