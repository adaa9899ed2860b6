"""Shopware passes Kade's conformance kit: the real core, the real plugin, the simulator in-process.

It runs on both logins: the password grant of an administration user (migrating to an
integration) and an integration's client credentials (migrating to the password grant).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.plugins.shopware.harness import ShopwareHarness
from kade.testing import ConformanceSuite


class TestShopwareConformance(ConformanceSuite):
    @pytest.fixture(params=["password", "client_credentials"])
    def harness(self, request: pytest.FixtureRequest) -> Iterator[ShopwareHarness]:
        h = ShopwareHarness(auth_method=request.param)
        yield h
        h.close()
        # every control a scenario used must have fired, or the scenario proved nothing
        assert h.sim.scripted_faults == [], f"faults never triggered: {h.sim.scripted_faults}"
