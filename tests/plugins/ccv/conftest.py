"""Fixtures: a simulated CCV shop on a controllable clock, and contexts bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from kade.plugins.ccv.simulator import CcvSimulator, CcvState, create_app
from kade.plugins.ccv.simulator.state import HOST, ApiKey
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

START = datetime(2026, 3, 2, 12, 0, 7, tzinfo=UTC)
BASE = f"https://{HOST}"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=START.timestamp())


@pytest.fixture
def state(clock: SimClock) -> CcvState:
    return CcvState(clock=clock)


@pytest.fixture
def key(state: CcvState) -> ApiKey:
    return state.create_key()


@pytest.fixture
def app(state: CcvState) -> CcvSimulator:
    return create_app(state)


@pytest.fixture
def http(app: CcvSimulator) -> Iterator[httpx.Client]:
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport) as client:
        yield client
    transport.close()


@pytest.fixture
def make_ctx(http: httpx.Client, key: ApiKey, clock: SimClock) -> Callable[..., ConnectionContext]:
    tokens = MemoryTokenStore()

    def make(*, auth_method: str = "api_key", credentials: dict[str, str] | None = None,
             settings: dict[str, Any] | None = None, skew: float = 0.0) -> ConnectionContext:
        return ConnectionContext(
            connection_id=1, tenant_id=1, platform="ccv", name="shop", auth_method=auth_method, base_url=BASE,
            credentials=credentials or {"public_key": key.public, "secret_key": key.secret},
            http=http, tokens=tokens, save_credentials=lambda _: None, settings=dict(settings or {}),
            now=lambda: datetime.fromtimestamp(clock.now(), UTC) + timedelta(seconds=skew),
        )

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., ConnectionContext]) -> ConnectionContext:
    return make_ctx()
