"""CCV Shop passes Kade's conformance kit: the real core, the real plugin, the simulator in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.plugins.ccv.harness import CcvHarness
from kade.testing import ConformanceSuite


class TestCcvConformance(ConformanceSuite):
    platform = "ccv"

    @pytest.fixture
    def harness(self) -> Iterator[CcvHarness]:
        h = CcvHarness()
        yield h
        h.close()
        assert h.sim.limiter.rejected == 0, "Kade triggered a 429 on its own"
