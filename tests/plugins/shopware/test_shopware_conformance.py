"""Shopware passes Kade's conformance kit: the real core, the real plugin, the simulator in-process.

It runs on both logins — an administration user's password grant (migrating to an integration)
and an integration's client credentials (migrating to the password grant) — and once more with
every exchange checked against the official Admin API spec (skipped when ``shared/`` is absent).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import SPEC

from kade.plugins.shopware.harness import ShopwareHarness
from kade.testing import ConformanceSuite


class TestShopwareConformance(ConformanceSuite):
    @pytest.fixture(params=["password", "client_credentials", "spec-checked"])
    def harness(self, request: pytest.FixtureRequest) -> Iterator[ShopwareHarness]:
        if request.param == "spec-checked":
            if not SPEC.is_file():
                pytest.skip(f"Shopware Admin API spec not found at {SPEC}")
            pytest.importorskip("jsonschema", reason="jsonschema is needed to validate against the spec")
            h = ShopwareHarness(auth_method="password", spec_path=SPEC)
        else:
            h = ShopwareHarness(auth_method=request.param)
        yield h
        h.close()
        # every control a scenario used must have fired, or the scenario proved nothing
        assert h.sim.scripted_faults == [], f"faults never triggered: {h.sim.scripted_faults}"
        if h.sim.spec is not None:
            report = h.sim.spec.report
            print(f"\nShopware Admin API spec check: {report.summary()}")
            assert report.violations == [], "\n".join(sorted(set(report.violations)))
            assert report.requests > 0
