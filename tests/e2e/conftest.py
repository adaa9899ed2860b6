"""Fixtures for the end-to-end tests: real Redis broker, PostgreSQL, an HTTP fake store served on a
port, ``kade worker`` subprocesses that load the store's plugin through its entry point.

Everything started here is stopped in teardown, even when a test fails half-way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

import tests.support.fakehttp as fakehttp
from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.jobs import make_broker
from kade.manager import make_plugin_manager
from kade.runtime import Runtime
from kade.sim.server import BackgroundServer
from tests.conftest import TEST_KEY, truncate_all
from tests.e2e.harness import WorkerPool
from tests.support.fakehttp import HttpStore, install_fakehttp_dist, worker_pythonpath

#: a Redis database of its own: the tests flush it (other test sessions use other numbers)
E2E_REDIS_URL = os.environ.get("KADE_E2E_REDIS_URL", "redis://127.0.0.1:6379/13")
#: RabbitMQ as the tests reach it; each test session gets a virtual host of its own
E2E_AMQP_URL = os.environ.get("KADE_E2E_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
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


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """A private RabbitMQ virtual host for this session (its queues vanish with it)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("RabbitMQ is required for the broker e2e tests (rabbitmqctl not found; run .ci/run)")
    vhost = f"kade_e2e_{uuid.uuid4().hex[:8]}"
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"RabbitMQ is required at {E2E_AMQP_URL} (start it, or run .ci/run): {exc}")
    yield f"{E2E_AMQP_URL}/{vhost}"
    _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> str:
    """The Dramatiq broker the workers and the test process share: Redis, then RabbitMQ."""
    if request.param == "redis":
        return redis_url
    url: str = request.getfixturevalue("amqp_url")
    return url


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
def e2e_kade(tmp_path: Path, pg_url: str, redis_url: str, broker_url: str) -> Iterator[Kade]:
    """The test process's own Kade (it sets up data, dispatches and sweeps, like the CLI and scheduler)."""
    settings = Settings(data_dir=tmp_path / "data", database_url=pg_url, redis_url=redis_url, secret_key=TEST_KEY,
                        broker_url=broker_url, stock_window=STOCK_WINDOW, _env_file=None)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(fakehttp, fakehttp.PLATFORM)])
    app = Kade(settings, pm=pm)
    yield app
    app.close()


@pytest.fixture
def broker_runtime(e2e_kade: Kade) -> Iterator[Runtime]:
    """Kade's actors on the shared broker, for sending only (the workers are other processes)."""
    runtime = Runtime(e2e_kade, broker=make_broker(e2e_kade.settings))
    yield runtime
    runtime.stop()


@pytest.fixture
def workers(tmp_path: Path, pg_url: str, redis_url: str, broker_url: str,
            fakehttp_root: Path) -> Iterator[WorkerPool]:
    env = {
        **os.environ,
        "KADE_REDIS_URL": redis_url,
        "KADE_BROKER_URL": broker_url,
        "KADE_DATABASE_URL": pg_url,
        "KADE_SECRET_KEY": TEST_KEY,
        "KADE_STOCK_WINDOW": str(STOCK_WINDOW),
        # a killed worker's import lock must free within the scenario's deadlines
        "KADE_IMPORT_LEASE": "3",
        "KADE_DISABLED_PLUGINS": "bol,shopify,woocommerce",
        "KADE_LOG_FORMAT": "json",
        "KADE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": worker_pythonpath(fakehttp_root),
    }
    pool = WorkerPool(env, tmp_path)
    yield pool
    pool.close()
