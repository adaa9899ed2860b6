"""Fixtures: a simulated shop (through the harness), a recording client and a connection context."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from kade.plugins.shopware.harness import ShopwareHarness
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.types import ConnectionContext

#: ``shared/`` beside the repository; KADE_SHARED_DIR points elsewhere (a worktree checked out deeper)
SHARED = Path(os.environ.get("KADE_SHARED_DIR") or Path(__file__).resolve().parents[3] / ".." / "shared")
SPEC = SHARED / "specs" / "shopware-admin-api.json"


class Recorder(SyncASGITransport):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.requests: list[httpx.Request] = []
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response

    def paths(self, method: str | None = None) -> list[str]:
        return [r.url.path for r in self.requests if method is None or r.method == method]


class ClockTokenStore:
    """A token store on the simulator's clock, so token lifetimes can be stepped through."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.values: dict[str, tuple[str, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str) -> str | None:
        item = self.values.get(key)
        return item[0] if item and item[1] > self.clock.now() else None

    def set(self, key: str, value: str, ttl: float) -> None:
        self.values[key] = (value, self.clock.now() + ttl)

    def delete(self, key: str) -> None:
        self.values.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout: float = 30.0) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=timeout):
            raise TimeoutError(f"token lock {key!r} not acquired within {timeout}s")
        try:
            yield
        finally:
            lock.release()


@dataclass
class Shop:
    harness: ShopwareHarness
    transport: Recorder
    http: httpx.Client
    tokens: ClockTokenStore
    saved: list[dict[str, str]] = field(default_factory=list)

    @property
    def sim(self) -> Any:
        return self.harness.sim

    def ctx(self, *, auth_method: str | None = None, credentials: dict[str, str] | None = None,
            settings: dict[str, Any] | None = None) -> ConnectionContext:
        h = self.harness
        return ConnectionContext(
            connection_id=1, tenant_id=1, platform="shopware", name="shop",
            auth_method=auth_method or h.auth_method, base_url=h.base_url,
            credentials=dict(credentials if credentials is not None else h.credentials()),
            http=self.http, tokens=self.tokens, save_credentials=self.saved.append,
            settings=settings if settings is not None else h.settings(),
            now=lambda: datetime.fromtimestamp(h.clock.now(), UTC),
        )


def make_shop(auth_method: str = "client_credentials", *, spec: bool = False) -> Shop:
    if spec and not SPEC.is_file():
        pytest.skip(f"Shopware Admin API spec not found at {SPEC} (shared/ is not checked out next to the repo)")
    pytest.importorskip("jsonschema", reason="jsonschema is needed to validate against the spec")
    harness = ShopwareHarness(auth_method=auth_method, spec_path=SPEC if spec else None)
    transport = Recorder(harness.app())
    http = httpx.Client(transport=transport, base_url=harness.base_url)
    return Shop(harness=harness, transport=transport, http=http, tokens=ClockTokenStore(harness.clock))


@pytest.fixture
def shop() -> Iterator[Shop]:
    s = make_shop()
    yield s
    s.http.close()
    s.transport.close()


@pytest.fixture
def admin_shop() -> Iterator[Shop]:
    s = make_shop("password")
    yield s
    s.http.close()
    s.transport.close()
