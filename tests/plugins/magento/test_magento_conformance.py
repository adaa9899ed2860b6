"""Magento passes the strict conformance kit through the real core, migration included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.plugins.magento.harness import MagentoHarness
from kade.testing import ConformanceSuite


class TestMagentoConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self) -> Iterator[MagentoHarness]:
        h = MagentoHarness()
        yield h
        h.close()


class TestMagentoLegacyStockConformance(ConformanceSuite):
    """A store without MSI (Inventory modules disabled): the legacy stock item path."""

    @pytest.fixture
    def harness(self) -> Iterator[MagentoHarness]:
        h = MagentoHarness(msi=False)
        yield h
        h.close()
