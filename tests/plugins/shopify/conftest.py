"""Fixtures for the Shopify plugin: a simulated shop on a simulated clock, and connections to it."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("graphql", reason="the Shopify simulator needs graphql-core (the 'test' extra)")

from kade.plugins.shopify import client as client_module
from kade.plugins.shopify import simulator as sm
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
SPECS = SHARED / "specs"
SCHEMA_SPEC = SPECS / "shopify-admin-graphql-2025-01.introspection.json.gz"
ORDER_EXAMPLE = SPECS / "shopify-rest-order-example-2026-07.json"
BASE_URL = "https://shop.myshopify.com"


def spec_or_skip(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path.name} is not available (expected under {SPECS.resolve()})")
    return path


@pytest.fixture(scope="session")
def official_schema() -> Any:
    """The official 2025-01 Admin schema, straight from shared/specs (not the simulator's copy)."""
    from graphql import build_client_schema

    with gzip.open(spec_or_skip(SCHEMA_SPEC)) as fh:
        return build_client_schema(json.load(fh)["data"], assume_valid=True)


@pytest.fixture(scope="session")
def rest_order_example() -> dict[str, Any]:
    with spec_or_skip(ORDER_EXAMPLE).open() as fh:
        return json.load(fh)["orders"][0]  # type: ignore[no-any-return]


@pytest.fixture
def clock() -> SimClock:
    return SimClock(start=datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp())


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch, clock: SimClock) -> list[float]:
    """The client never really sleeps in tests: waiting advances the simulated clock."""
    waited: list[float] = []

    def fake_sleep(seconds: float) -> None:
        waited.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr(client_module, "SLEEP", fake_sleep)
    return waited


@pytest.fixture
def sim(clock: SimClock) -> sm.SimState:
    state = sm.SimState(seed=7, clock=clock)
    state.seed_catalog(5)
    return state


@pytest.fixture
def app(sim: sm.SimState) -> Any:
    return sm.create_app(sim)


@pytest.fixture
def http(app: Any) -> Iterator[httpx.Client]:
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as client:
        yield client
    transport.close()


@pytest.fixture
def tokens() -> MemoryTokenStore:
    return MemoryTokenStore()


MakeCtx = Callable[..., ConnectionContext]


@pytest.fixture
def make_ctx(http: httpx.Client, tokens: MemoryTokenStore, clock: SimClock) -> MakeCtx:
    def make(
        auth_method: str = "client_credentials",
        credentials: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
        *,
        client: httpx.Client | None = None,
        token_store: MemoryTokenStore | None = None,
    ) -> ConnectionContext:
        if credentials is None:
            credentials = (
                {"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": sm.DEFAULT_CLIENT_SECRET}
                if auth_method == "client_credentials"
                else {"access_token": sm.DEFAULT_ADMIN_TOKEN, "client_secret": sm.DEFAULT_CLIENT_SECRET}
            )
        return ConnectionContext(
            connection_id=1,
            tenant_id=1,
            platform="shopify",
            name="test shop",
            auth_method=auth_method,
            base_url=BASE_URL,
            credentials=credentials,
            http=client or http,
            tokens=token_store or tokens,
            save_credentials=lambda creds: None,
            settings=settings if settings is not None else {},
            now=lambda: datetime.fromtimestamp(clock.now(), UTC),
        )

    return make


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> ConnectionContext:
    return make_ctx()


@pytest.fixture
def admin_ctx(make_ctx: MakeCtx) -> ConnectionContext:
    return make_ctx("admin_token")
