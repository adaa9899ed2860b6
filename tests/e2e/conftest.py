"""Fixtures for the end-to-end tests: real Redis broker, PostgreSQL, an HTTP fake store served on a
port, ``kade worker`` subprocesses that load the store's plugin through its entry point.

Everything started here is stopped in teardown, even when a test fails half-way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

import tests.support.fakehttp as fakehttp
from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.runtime import Runtime
from kade.sim.server import BackgroundServer
from tests.conftest import TEST_KEY, truncate_all
from tests.e2e.harness import WorkerPool
from tests.support.fakehttp import HttpStore, install_fakehttp_dist, worker_pythonpath

#: a Redis database of its own: the tests flush it (other test sessions use other numbers)
E2E_REDIS_URL = os.environ.get("KADE_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")
STOCK_WINDOW = 0.3


@pytest.fixture(scope="session")
def fakehttp_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A throw-away distribution with a ``kade`` entry point for the fake HTTP store's plugin."""
    with pytest.MonkeyPatch.context() as mp:
        yield install_fakehttp_dist(tmp_path_factory.mktemp("fakehttp_dist"), mp)


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(E2E_REDIS_URL)
    client.flushdb()
    yield E2E_REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    db = Database(pg_database)
    truncate_all(db)
    db.dispose()
    return pg_database


@pytest.fixture
def http_store() -> Iterator[tuple[HttpStore, str]]:
    store = HttpStore()
    server = BackgroundServer(store.app).start()
    yield store, server.url
    server.stop()


@pytest.fixture
def e2e_kade(tmp_path: Path, pg_url: str, redis_url: str) -> Iterator[Kade]:
    """The test process's own Kade (it sets up data, dispatches and sweeps, like the CLI and scheduler)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, redis_url=redis_url, secret_key=TEST_KEY,
                        stock_window=STOCK_WINDOW, _env_file=None)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(fakehttp, fakehttp.PLATFORM)])
    app = Kade(settings, pm=pm)
    yield app
    app.close()


@pytest.fixture
def redis_runtime(e2e_kade: Kade, redis_url: str) -> Iterator[Runtime]:
    """Kade's actors on the Redis broker, for sending only (the workers are other processes)."""
    runtime = Runtime(e2e_kade, broker=RedisBroker(url=redis_url, namespace="kade"))
    yield runtime
    runtime.stop()


@pytest.fixture
def workers(tmp_path: Path, pg_url: str, redis_url: str, fakehttp_root: Path) -> Iterator[WorkerPool]:
    env = {
        **os.environ,
        "KADE_REDIS_URL": redis_url,
        "KADE_DATABASE_URL": pg_url,
        "KADE_SECRET_KEY": TEST_KEY,
        "KADE_STOCK_WINDOW": str(STOCK_WINDOW),
        "KADE_DISABLED_PLUGINS": "bol,shopify,woocommerce",
        "KADE_LOG_FORMAT": "json",
        "KADE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": worker_pythonpath(fakehttp_root),
    }
    pool = WorkerPool(env, tmp_path)
    yield pool
    pool.close()
