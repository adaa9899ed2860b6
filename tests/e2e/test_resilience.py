"""Principles 2 and 3 and rule R10 under real failures: kill -9, a broker losing its messages, store errors.

Each broker-backed scenario runs on Redis and on RabbitMQ as the Dramatiq broker (Redis always
holds the shared rate limits); real PostgreSQL, ``kade worker`` subprocesses talking HTTP to a
fake store (``tests.support.fakehttp``). Each scenario ends with the same promises: every shipment reported
exactly once, every action settled, the store's stock equal to the warehouse's, no order lost
or imported twice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest
import redis
import sqlalchemy as sa
from sqlmodel import col, func, select

from kade.app import Kade
from kade.claims import claim
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.models import Action, ActionKind, Connection, Order, OrderLine, Shipment, utcnow
from kade.runtime import Runtime
from kade.sim.server import BackgroundServer
from kade.types import ShipmentRequest, ShipmentRequestLine
from tests.conftest import TEST_KEY
from tests.e2e.conftest import STOCK_WINDOW
from tests.e2e.harness import (
    action_summary,
    all_settled,
    assert_shipments_exactly_once,
    assert_stock_converged,
    count_running,
    drive,
    make_work,
    setup_shop,
    wait_for,
)
from tests.support import fakehttp
from tests.support.fakehttp import HttpStore, StoreFaults, Windows

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

#: longer than any single action can take here (store hang 1.3 s), so a live worker's action is
#: never taken from it; only a dead worker's actions go back to pending
SAFE_LEASE = 3.0


def _shop(store: HttpStore, kade: Kade, url: str, *, orders: int, products: int,
          platform: str = fakehttp.PLATFORM) -> tuple[int, list[int]]:
    ids = store.add_products(products)
    store.add_orders(orders, products=ids)
    connection_id = setup_shop(kade, url, platform=platform)
    return connection_id, make_work(kade, connection_id)


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(http_store, e2e_kade, broker_runtime, workers) -> None:
    """SIGKILL a worker while it reports shipments and pushes stock; a new worker + sweep finish the job."""
    store, url = http_store
    connection_id, action_ids = _shop(store, e2e_kade, url, orders=120, products=150)
    store.set_faults(StoreFaults(error_rate=0.03, timeout_after_apply_rate=0.03, latency=0.02))
    first = workers.start()
    broker_runtime.dispatch(action_ids)
    wait_for(lambda: len(store.report_counts()) >= 40, timeout=30, what="40 shipment reports before the kill")
    workers.kill(first)
    seen_at_kill = len(store.report_counts())
    assert seen_at_kill < 120, "the worker finished before it could be killed; slow the store down"

    # Nobody works now: whatever is still `running` belonged to the dead worker.
    drive(broker_runtime, lambda: count_running(e2e_kade) == 0, lease=0.3, timeout=10, every=0.1,
          what="the dead worker's actions back to pending")
    workers.start()
    drive(broker_runtime, lambda: all_settled(e2e_kade), lease=SAFE_LEASE, timeout=45, what="every action settled")

    assert assert_shipments_exactly_once(e2e_kade, store) == 120
    assert assert_stock_converged(e2e_kade, store, connection_id) == 150


def _lose_queued_messages(broker_url: str) -> None:
    """Every queued message vanishes: Redis flushed, or RabbitMQ's connections cut and queues purged.

    Redis: FLUSHDB of the test's own database — Kade keeps all of its Redis state (queues,
    delayed messages, rate limits) in the database of ``KADE_REDIS_URL``, and FLUSHALL would also
    wipe other test sessions sharing the server (``KADE_E2E_FLUSHALL=1`` uses FLUSHALL anyway).
    RabbitMQ: every client connection of the session's virtual host is closed (what a broker
    restart looks like to its clients) and every queue purged (what a lost message looks like).
    """
    if broker_url.startswith("redis"):
        client = redis.Redis.from_url(broker_url)
        if os.environ.get("KADE_E2E_FLUSHALL") == "1":
            client.flushall()
        else:
            client.flushdb()
        client.close()
        return
    vhost = broker_url.rsplit("/", 1)[1]
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "close_all_connections", "-p", vhost, "broker restart (e2e)"], check=True,
                   capture_output=True, timeout=60)
    listed = subprocess.run([*ctl, "list_queues", "-p", vhost, "name", "--no-table-headers"], check=True,
                            capture_output=True, text=True, timeout=60).stdout.split()
    assert listed, f"no queue in RabbitMQ's {vhost}: the workers are not on RabbitMQ"
    for queue in listed:
        subprocess.run([*ctl, "purge_queue", "-p", vhost, queue], check=True, capture_output=True, timeout=60)


def test_broker_loses_messages_mid_run_loses_and_duplicates_nothing(http_store, e2e_kade, broker_runtime, workers,
                                                                    broker_url) -> None:
    """Every queued message vanishes mid-run; the sweeper re-drives from the database."""
    store, url = http_store
    connection_id, action_ids = _shop(store, e2e_kade, url, orders=120, products=150)
    faults = StoreFaults(error_rate=0.03, timeout_after_apply_rate=0.03, latency=0.02)
    store.set_faults(faults)
    proc = workers.start()
    workers.wait_ready(proc)
    broker_runtime.dispatch(action_ids)
    wait_for(lambda: len(store.report_counts()) >= 30, timeout=30, what="30 shipment reports before the loss")
    # The store is down while the broker loses its messages: RabbitMQ's loss takes several
    # `rabbitmqctl` calls (seconds), long enough for a working store to take every report first.
    store.set_faults(StoreFaults(error_rate=1.0))
    assert len(store.report_counts()) < 120, "everything was reported before the loss; slow the store down"
    _lose_queued_messages(broker_url)
    store.set_faults(faults)

    drive(broker_runtime, lambda: all_settled(e2e_kade), lease=SAFE_LEASE, timeout=60, what="every action settled")
    assert proc.poll() is None, "the worker died when the broker lost its messages"
    assert assert_shipments_exactly_once(e2e_kade, store) == 120
    assert assert_stock_converged(e2e_kade, store, connection_id) == 150


def test_import_survives_kill_and_store_errors(http_store, e2e_kade, broker_runtime, workers) -> None:
    """Orders imported through kill -9 and 5% failing store requests: none lost, none twice."""
    store, url = http_store
    products = store.add_products(40)
    store.add_orders(2000, products=products)
    connection_id = setup_shop(e2e_kade, url, platform=fakehttp.PLATFORM, import_now=False)
    store.set_faults(StoreFaults(error_rate=0.05, seed=3))

    def imported() -> int:
        with e2e_kade.db.session() as session:
            return int(session.exec(select(func.count()).select_from(Order)).one())

    first = workers.start()
    deadline = time.monotonic() + 30
    next_poll = 0.0
    while imported() < 600:  # the scheduler polls; a failed import is simply polled again
        assert time.monotonic() < deadline, f"only {imported()} orders imported before the kill"
        if time.monotonic() >= next_poll:
            broker_runtime.import_orders(connection_id)
            next_poll = time.monotonic() + 1.0
        time.sleep(0.01)
    workers.kill(first)
    at_kill = imported()
    assert at_kill < 2000
    store.add_orders(300, products=products, start=2000)  # orders keep arriving while no worker runs

    workers.start()
    deadline = time.monotonic() + 45
    while imported() < 2300:
        assert time.monotonic() < deadline, f"{imported()} of 2300 orders imported"
        broker_runtime.import_orders(connection_id)
        time.sleep(0.5)

    with e2e_kade.db.session() as session:
        rows = session.exec(select(Order.remote_id).where(Order.connection_id == connection_id)).all()
        lines = int(session.exec(select(func.count()).select_from(OrderLine)).one())
    assert len(rows) == len(set(rows)) == 2300
    assert set(rows) == set(store.orders)
    assert lines == 2 * 2300
    errors = sum(1 for r in store.snapshot_requests() if r.status == 503)
    assert errors > 0, "no store error was injected"


def test_rate_limit_holds_across_worker_processes(http_store, e2e_kade, broker_runtime, workers) -> None:
    """Three worker processes share one connection's declared limit (20/s, burst 1) through Redis."""
    store, url = http_store
    connection_id, action_ids = _shop(store, e2e_kade, url, orders=60, products=100,
                                      platform=fakehttp.LIMITED_PLATFORM)
    procs = [workers.start() for _ in range(3)]
    for proc in procs:
        workers.wait_ready(proc)
    started = len(store.snapshot_requests())
    broker_runtime.dispatch(action_ids)
    drive(broker_runtime, lambda: all_settled(e2e_kade), lease=30, timeout=45, what="every action settled")

    work = store.snapshot_requests()[started:]
    windows = Windows([r.at for r in store.snapshot_requests()])
    worst = windows.max_in(1.0)
    pids = {r.pid for r in work if r.pid}
    assert worst <= fakehttp.LIMITED_RPS + fakehttp.LIMITED_BURST, f"{worst} requests within one second"
    assert len(pids) >= 2, f"only worker pids {pids} sent requests; the limit was not shared"
    assert len(work) >= 60
    assert assert_shipments_exactly_once(e2e_kade, store) == 60
    assert assert_stock_converged(e2e_kade, store, connection_id) == 100


def test_embedded_thread_crash_is_swept_without_duplicates(tmp_path, sqlite_template) -> None:
    """Embedded mode (SQLite + in-process broker): a worker thread died mid-action — one shipment
    already sent, others only claimed, a stock batch claimed — and a sweep with a short lease
    recovers it all, exactly once."""
    path = tmp_path / "kade.sqlite3"
    shutil.copy(sqlite_template, path)
    settings = Settings(data_dir=tmp_path / "data", secret_key=TEST_KEY, stock_window=STOCK_WINDOW, _env_file=None)
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(fakehttp, fakehttp.PLATFORM)])
    store = HttpStore()
    with BackgroundServer(store.app) as server, Kade(settings, db=Database(f"sqlite:///{path}"), pm=pm) as kade:
        ids = store.add_products(30)
        store.add_orders(20, products=ids)
        connection_id = setup_shop(kade, server.url, platform=fakehttp.PLATFORM)
        action_ids = make_work(kade, connection_id)

        # The crash: a thread claimed three shipments and ten stock pushes, sent one shipment, died.
        with kade.db.transaction() as session:
            shipments = session.exec(select(Action).where(Action.kind == ActionKind.SHIPMENT)
                                     .order_by(col(Action.id)).limit(3)).all()
            stock = session.exec(select(Action).where(Action.kind == ActionKind.STOCK).limit(10)).all()
            session.execute(sa.update(Action).where(col(Action.id).in_([a.id for a in stock]))
                            .values(next_attempt_at=utcnow()))  # their coalescing window has passed
            for action in [*shipments, *stock]:
                assert action.id is not None and claim(session, action.id) is not None
            sent = session.get(Shipment, shipments[0].payload["shipment_id"])
            assert sent is not None
            order = session.get(Order, sent.order_id)
            conn = session.get(Connection, connection_id)
            assert order is not None and conn is not None
            lines = session.exec(select(OrderLine).where(OrderLine.order_id == order.id)).all()
            request = ShipmentRequest(
                shipment_id=sent.id or 0, order_remote_id=order.remote_id, order_number=order.number,
                lines=tuple(ShipmentRequestLine(remote_line_id=li.remote_line_id, quantity=li.quantity)
                            for li in lines),
                carrier=sent.carrier, tracking_code=sent.tracking_code, idempotency_key=f"kade-shipment-{sent.id}")
        kade.pm.platform(fakehttp.PLATFORM).report_shipment(kade.context(conn), request)
        assert count_running(kade) == 13

        runtime = Runtime(kade)
        try:
            # Before the threads start, what is `running` is the dead thread's: a short lease frees it.
            drive(runtime, lambda: count_running(kade) == 0, lease=0.3, timeout=10, every=0.1,
                  what="the dead thread's actions back to pending")
            store.set_faults(StoreFaults(error_rate=0.05, timeout_after_apply_rate=0.05))
            runtime.start(threads=4, tick=0)
            runtime.dispatch(action_ids)
            deadline = time.monotonic() + 30
            while not all_settled(kade):
                assert time.monotonic() < deadline, f"actions left: {dict(action_summary(kade))}"
                runtime.sweep(lease=SAFE_LEASE)
                runtime.join(timeout=5)
                time.sleep(0.05)
        finally:
            runtime.stop()
        assert assert_shipments_exactly_once(kade, store) == 20
        assert store.report_counts()[f"kade-shipment-{sent.id}"] == 1
        assert assert_stock_converged(kade, store, connection_id) == 30
