"""Fixtures: a simulated store, an httpx client bound to it, and a connection context."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from kade.plugins.woocommerce.simulator import ApiKey, WooSimulator, WooState, create_app
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
HTTPS = "https://shop.example"
HTTP = "http://shop.example"


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=START.timestamp())


@pytest.fixture
def sim(clock: SimClock) -> WooState:
    return WooState(seed=7, clock=clock)


@pytest.fixture
def app(sim: WooState) -> WooSimulator:
    return create_app(sim)


@pytest.fixture
def key(sim: WooState) -> ApiKey:
    return sim.create_api_key()


@pytest.fixture
def http_factory(app: WooSimulator) -> Iterator[Callable[..., httpx.Client]]:
    """httpx clients on the simulator; every one is closed after the test."""
    clients: list[httpx.Client] = []

    def make(base_url: str = HTTPS, **kwargs: Any) -> httpx.Client:
        client = httpx.Client(transport=SyncASGITransport(app), base_url=base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def http(http_factory: Callable[..., httpx.Client]) -> httpx.Client:
    return http_factory()


def make_ctx(
    http: httpx.Client,
    key: ApiKey | None = None,
    *,
    clock: SimClock | None = None,
    base_url: str = HTTPS,
    auth_method: str = "basic",
    settings: dict[str, Any] | None = None,
    credentials: dict[str, str] | None = None,
) -> ConnectionContext:
    if credentials is None:
        assert key is not None
        credentials = {"consumer_key": key.consumer_key, "consumer_secret": key.consumer_secret}
    now = (lambda: datetime.fromtimestamp(clock.now(), UTC)) if clock else (lambda: datetime.now(UTC))
    return ConnectionContext(
        connection_id=1,
        tenant_id=1,
        platform="woocommerce",
        name="shop",
        auth_method=auth_method,
        base_url=base_url,
        credentials=credentials,
        http=http,
        tokens=MemoryTokenStore(),
        save_credentials=lambda _: None,
        settings=settings or {},
        now=now,
    )


@pytest.fixture
def start() -> datetime:
    return START


@pytest.fixture
def make_context() -> Callable[..., ConnectionContext]:
    """``make_ctx`` for tests that build their own store or client."""
    return make_ctx


@pytest.fixture
def ctx(http: httpx.Client, key: ApiKey, clock: SimClock) -> ConnectionContext:
    return make_ctx(http, key, clock=clock)


@pytest.fixture
def ctx_factory(
    http_factory: Callable[..., httpx.Client], key: ApiKey, clock: SimClock
) -> Callable[..., ConnectionContext]:
    """A context on its own client: ``ctx_factory(base_url=HTTP, auth_method="oauth1", ...)``."""

    def make(*, base_url: str = HTTPS, **kwargs: Any) -> ConnectionContext:
        kwargs.setdefault("clock", clock)
        return make_ctx(http_factory(base_url), key, base_url=base_url, **kwargs)

    return make
