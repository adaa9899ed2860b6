"""Lightspeed passes Kade's conformance kit: the real core, the real plugin, the simulator in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.plugins.lightspeed.harness import LightspeedHarness
from kade.testing import ConformanceSuite


class TestLightspeedConformance(ConformanceSuite):
    platform = "lightspeed"

    @pytest.fixture
    def harness(self) -> Iterator[LightspeedHarness]:
        h = LightspeedHarness()
        yield h
        h.close()
        assert h.sim.limiter.rejected == 0, "Kade triggered a 429 on its own"
