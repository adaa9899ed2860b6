"""Magento passes the strict conformance kit through the real core, migration included.

Every scenario's exchanges are checked against the official 2.4.9 spec by the simulator;
``SPEC_TOTALS`` gathers the counts (``pytest -s`` prints them at the end of the module).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from kade.plugins.magento.harness import MagentoHarness
from kade.testing import ConformanceSuite

SPEC_TOTALS: Counter[tuple[str, int]] = Counter()


def _harness(**options: bool) -> Iterator[MagentoHarness]:
    h = MagentoHarness(**options)
    yield h
    SPEC_TOTALS.update(h.spec.checked)
    h.close()


@pytest.fixture(scope="module", autouse=True)
def _report_spec_totals() -> Iterator[None]:
    yield
    operations = {op for op, _ in SPEC_TOTALS}
    print(f"\nconformance kit, Magento 2.4.9 spec check: {len(operations)} operations, "
          f"{sum(SPEC_TOTALS.values())} exchanges validated")


class TestMagentoConformance(ConformanceSuite):
    platform = "magento"

    @pytest.fixture
    def harness(self) -> Iterator[MagentoHarness]:
        yield from _harness()


class TestMagentoLegacyStockConformance(ConformanceSuite):
    """A store without MSI (Inventory modules disabled): the legacy stock item path."""

    @pytest.fixture
    def harness(self) -> Iterator[MagentoHarness]:
        yield from _harness(msi=False)
