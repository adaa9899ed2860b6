"""The embedded default as an operator runs it: `kade worker` as its own process on SQLite with the
in-process broker, and other `kade` processes handing it work through the database only.

Here the test process plays the CLI (it records shipments and stock changes, never dispatches);
the worker must find them by its sweep tick, report every shipment once and converge the stock —
also after a SIGKILL in the middle and a restart.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.sim.server import BackgroundServer
from tests.conftest import TEST_KEY
from tests.e2e.harness import (
    WorkerPool,
    action_summary,
    all_settled,
    assert_shipments_exactly_once,
    assert_stock_converged,
    make_work,
    setup_shop,
    wait_for,
)
from tests.support import fakehttp
from tests.support.fakehttp import HttpStore, worker_pythonpath

EMBEDDED_READY = "embedded worker running"


def _wait_embedded_ready(pool: WorkerPool, proc, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while EMBEDDED_READY not in pool.log_text(proc):
        assert proc.poll() is None, f"worker exited with {proc.returncode}:\n{pool.log_text(proc)[-3000:]}"
        assert time.monotonic() < deadline, f"worker not ready:\n{pool.log_text(proc)[-3000:]}"
        time.sleep(0.05)


def test_embedded_worker_process_takes_over_work_committed_by_other_processes(
    tmp_path: Path, sqlite_template: Path, fakehttp_root: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "kade.sqlite3")
    settings = Settings(data_dir=data, secret_key=TEST_KEY, stock_window=0.2, _env_file=None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KADE_")}
    env.update({
        "KADE_DATA_DIR": str(data), "KADE_SECRET_KEY": TEST_KEY, "KADE_STOCK_WINDOW": "0.2",
        "KADE_EMBEDDED_TICK": "0.2", "KADE_SWEEP_AFTER": "3", "KADE_RATE_LIMIT_WAIT": "1",
        "KADE_HTTP_CONNECT_TIMEOUT": "0.5", "KADE_HTTP_TIMEOUT": "1",
        "KADE_DISABLED_PLUGINS": "bol,shopify,woocommerce",
        "KADE_LOG_FORMAT": "json", "KADE_LOG_LEVEL": "WARNING", "PYTHONPATH": worker_pythonpath(fakehttp_root),
    })
    store = HttpStore()
    pool = WorkerPool(env, tmp_path)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(fakehttp, fakehttp.PLATFORM)])
    with BackgroundServer(store.app) as server, \
            Kade(settings, db=Database(settings.resolved_database_url()), pm=pm) as kade:
        try:
            ids = store.add_products(40)
            store.add_orders(30, products=ids)
            connection_id = setup_shop(kade, server.url, platform=fakehttp.PLATFORM)
            make_work(kade, connection_id)  # committed only: no message is sent from here
            first = pool.start(threads=2)
            _wait_embedded_ready(pool, first)
            wait_for(lambda: len(store.report_counts()) >= 5, timeout=30, what="the first shipment reports")
            pool.kill(first)  # kill -9 in the middle of the batch
            second = pool.start(threads=2)
            _wait_embedded_ready(pool, second)
            # What the dead process held is re-driven by the new worker once its lease (3 s here) passes.
            deadline = time.monotonic() + 60
            while not all_settled(kade):
                assert time.monotonic() < deadline, f"actions left: {dict(action_summary(kade))}"
                time.sleep(0.2)
        finally:
            pool.close()
        assert assert_shipments_exactly_once(kade, store) == 30
        assert assert_stock_converged(kade, store, connection_id) == 40
