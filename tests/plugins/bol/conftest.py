"""Fixtures for the bol plugin tests (helpers live in ``bol_testkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bol_testkit import CLOCKS, Bol, SimTransport, make_bol

from kade.plugins.bol import client as bol_client


@pytest.fixture
def bol_factory() -> Iterator[Callable[..., Bol]]:
    made: list[tuple[Bol, SimTransport]] = []

    def factory(**state_options: Any) -> Bol:
        made.append(make_bol(**state_options))
        return made[-1][0]

    yield factory
    for bol, transport in made:
        bol.http.close()
        transport.close()


@pytest.fixture
def bol(bol_factory: Callable[..., Bol]) -> Bol:
    """A simulator whose processes complete right away (delays are tested separately)."""
    return bol_factory(process_delay=0.0, process_delays={"CREATE_OFFER_EXPORT": 0.0})


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The plugin's waits take no real time: they advance the simulators' clocks instead."""
    waited: list[float] = []

    def wait(seconds: float) -> None:
        waited.append(seconds)
        for clock in CLOCKS:
            clock.advance(seconds)

    monkeypatch.setattr(bol_client, "sleep", wait)
    CLOCKS.clear()
    yield waited
    CLOCKS.clear()
