"""Bol passes Kade's conformance kit: the real core, the real plugin, the simulator in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.plugins.bol import client as bol_client
from kade.plugins.bol.harness import BolHarness
from kade.testing import ConformanceSuite


class TestBolConformance(ConformanceSuite):
    @pytest.fixture
    def harness(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[BolHarness]:
        h = BolHarness()
        # the plugin's own short waits (process status, short 429s) advance the simulator clock
        monkeypatch.setattr(bol_client, "sleep", h.clock.advance)
        yield h
        h.close()
