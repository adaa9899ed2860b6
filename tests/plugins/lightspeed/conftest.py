"""Fixtures: a simulated Lightspeed shop on a controllable clock, and contexts bound to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kade.plugins.lightspeed.simulator import LightspeedSimulator, LightspeedState, create_app
from kade.plugins.lightspeed.simulator.state import ApiKey, Shop
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

#: a few seconds into a 5-minute window
START = datetime(2026, 3, 2, 12, 0, 7, tzinfo=UTC)
EU = "https://api.webshopapp.com"
US = "https://api.shoplightspeed.com"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=START.timestamp())


@pytest.fixture
def state(clock: SimClock) -> LightspeedState:
    return LightspeedState(clock=clock)


@pytest.fixture
def shop(state: LightspeedState) -> Shop:
    return state.add_shop(cluster="eu1", languages=("nl", "en"))


@pytest.fixture
def key(state: LightspeedState, shop: Shop) -> ApiKey:
    return state.create_api_key(shop)


@pytest.fixture
def app(state: LightspeedState) -> LightspeedSimulator:
    return create_app(state)


@pytest.fixture
def http(app: LightspeedSimulator) -> Iterator[httpx.Client]:
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport) as client:
        yield client
    transport.close()


@pytest.fixture
def make_ctx(http: httpx.Client, key: ApiKey, clock: SimClock) -> Callable[..., ConnectionContext]:
    tokens = MemoryTokenStore()

    def make(*, base_url: str = EU, auth_method: str = "api_key", credentials: dict[str, str] | None = None,
             settings: dict[str, Any] | None = None) -> ConnectionContext:
        return ConnectionContext(
            connection_id=1, tenant_id=1, platform="lightspeed", name="shop", auth_method=auth_method,
            base_url=base_url, credentials=credentials or {"api_key": key.key, "api_secret": key.secret},
            http=http, tokens=tokens, save_credentials=lambda _: None,
            settings={"language": "nl", **(settings or {})},
            now=lambda: datetime.fromtimestamp(clock.now(), UTC),
        )

    return make


@pytest.fixture
def ctx(make_ctx: Callable[..., ConnectionContext]) -> ConnectionContext:
    return make_ctx()
