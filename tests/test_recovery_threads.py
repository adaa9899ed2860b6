"""A recovery drain runs on a thread of its own (``kade.recovery_drain.DrainThreads``): the
``recover_connection`` job only starts it, so the worker's threads stay free while stores pace
the drains, and a process shutting down stops its drains at their next batch."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlmodel import func, select

from kade.models import Action, ActionKind, ActionStatus, Order, utcnow
from kade.recovery import plan_recovery, run_recovery
from kade.recovery_drain import DrainThreads, drain_connection
from kade.runtime import Runtime
from tests.support.factories import make_connection
from tests.test_recovery import _outage, _phases, _Recorder, recover_on_workers


def _poll(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _recovered(kade, store, *, missed_orders: int = 0):
    """A connection after ``_outage`` (and ``missed_orders`` placed in the store meanwhile), its
    recovery planned and run with a recorder standing in for the actors: ready for
    ``drain_connection`` on the test's thread, the store's calls cleared."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    for n in range(missed_orders):
        store.add_order(f"S{n + 2}", [("A", None, 1)])
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    run_recovery(kade, SimpleNamespace(recover_connection=_Recorder("recover_connection", [])), plan)  # type: ignore[arg-type]
    store.sequence.clear()
    return conn


def test_a_drain_leaves_the_workers_only_thread_free(kade, store, monkeypatch) -> None:
    """With one worker thread, another job runs to its end while a drain waits on its store."""
    import kade.ingest as ingest

    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    other = make_connection(kade, name="other")
    real = ingest.import_orders
    store_waits, release = threading.Event(), threading.Event()

    def slow_store(app, connection_id, **kwargs):
        if connection_id == conn.id:  # the drain's import: its store is slow to answer
            store_waits.set()
            release.wait(timeout=30)
        return real(app, connection_id, **kwargs)

    monkeypatch.setattr(ingest, "import_orders", slow_store)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with kade.db.session() as session:
            plan = plan_recovery(session, since)
        run_recovery(kade, runtime.actors, plan)
        assert store_waits.wait(timeout=30)
        store.add_order("S2", [("A", None, 1)])
        runtime.actors.import_orders.send(connection_id=other.id)

        def imported() -> bool:
            with kade.db.session() as session:
                return session.exec(select(func.count()).select_from(Order)
                                    .where(Order.connection_id == other.id)).one() == 2

        assert _poll(imported), "the other connection's import waited for the drain's thread"
        assert not release.is_set()  # the drain was still waiting on its store meanwhile
    finally:
        release.set()
    try:
        runtime.join(timeout=30)  # waits for the drain too
        assert len(store.shipments) == 1 and store.products["P1"]["stock"] == 7
    finally:
        runtime.stop()


def test_a_stopped_drain_imports_and_leaves_the_rest_to_the_sweeper(kade, store) -> None:
    conn = _recovered(kade, store)
    stop = threading.Event()
    stop.set()
    ran = drain_connection(kade, conn.id, settle=30, stop=stop)
    assert _phases(store) == ["import_orders"]
    assert ran["stock"] == 0 and ran["shipment"] == 0 and store.shipments == []
    with kade.db.session() as session:
        left = {(a.kind, a.status) for a in session.exec(select(Action)).all()}
    assert left == {(ActionKind.STOCK, ActionStatus.PENDING), (ActionKind.SHIPMENT, ActionStatus.PENDING)}


def test_drain_threads_survive_a_failed_drain_and_stop_the_running_ones_on_close() -> None:
    threads = DrainThreads(2)
    assert threads.run(1, lambda stop: 1 / 0)  # logged; the pool goes on
    assert threads.wait(timeout=10)
    started, stopped = threading.Event(), threading.Event()

    def drain(stop: threading.Event) -> None:
        started.set()
        if stop.wait(timeout=30):
            stopped.set()

    assert threads.run(2, drain)
    assert started.wait(timeout=10)
    assert not threads.wait(timeout=0)  # still running
    threads.close(timeout=10)
    assert stopped.is_set() and threads.wait(timeout=0)


def test_a_drain_past_the_pools_size_runs_on_the_callers_thread() -> None:
    """The job is acknowledged once it returns: a full pool must not take more drains than it
    runs (one process would take a whole large recovery), so the next one runs where it was asked."""
    threads = DrainThreads(1)
    release, ran_on = threading.Event(), []
    assert threads.run(1, lambda stop: release.wait(timeout=30))
    assert threads.run(2, lambda stop: ran_on.append(threading.get_ident())) is False
    assert ran_on == [threading.get_ident()]
    assert threads.run(3, lambda stop: 1 / 0) is False  # logged here too, not raised into the job
    release.set()
    assert threads.wait(timeout=10)
    assert threads.run(4, lambda stop: ran_on.append(threading.get_ident()))  # room again
    assert threads.wait(timeout=10) and ran_on[-1] != threading.get_ident()
    threads.close()


def test_a_runtime_started_again_after_a_stop_still_drains(kade, store) -> None:
    """Stopping the workers stops this process's drains and drops their pool; the next runtime
    of the same process gets a new one (a closed pool would refuse every drain)."""
    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    Runtime(kade).start(threads=1, tick=0).stop()
    kade.drains.run(0, lambda stop: None)  # a pool existed when the first runtime stopped
    Runtime(kade).start(threads=1, tick=0).stop()
    recover_on_workers(kade, since)
    assert len(store.shipments) == 1 and store.products["P1"]["stock"] == 7


def test_joining_the_runtime_names_a_drain_that_outlives_the_timeout(kade) -> None:
    started = threading.Event()

    def drain(stop: threading.Event) -> None:
        started.set()
        stop.wait(timeout=30)

    assert kade.drains.run(1, drain)
    assert started.wait(timeout=10)
    runtime = Runtime(kade)
    try:
        with pytest.raises(TimeoutError, match="recovery drains still running"):
            runtime.join(timeout=0.2)
    finally:
        kade.stop_drains()
        runtime.stop()
    runtime.join(timeout=5)  # none left: returns


def test_a_drain_sends_its_stock_once_the_last_order_page_is_in_hand_while_the_import_stores(
        kade, store, monkeypatch) -> None:
    """Rule R10 orders what the store is sent: every order page, then stock, then shipments.
    Storing the fetched orders is Kade's own work: it goes on while the store takes the stock,
    and the drain ends only once every order is stored."""
    import kade.ingest.loop as loop

    store.page_size = 1
    conn = _recovered(kade, store, missed_orders=2)
    real = loop._store_page
    pushed_first: list[bool] = []

    def store_page(kade_, connection, hold, page, cache, **kwargs):
        if page.next_page_token is None:  # the last page waits for the store to get the stock
            pushed_first.append(_poll(lambda: "push_stock" in store.sequence, timeout=5))
        return real(kade_, connection, hold, page, cache, **kwargs)

    monkeypatch.setattr(loop, "_store_page", store_page)
    ran = drain_connection(kade, conn.id, settle=30)
    assert pushed_first == [True], "the stock waited for the orders to be stored"
    assert _phases(store) == ["import_orders", "push_stock", "report_shipment"]
    assert store.sequence.count("import_orders") == 3
    assert ran["stock"] == 1 and ran["shipment"] == 1
    with kade.db.session() as session:  # the drain returned once the import had stored them all
        assert session.exec(select(func.count()).select_from(Order)).one() == 3


def test_a_recovery_import_that_breaks_before_its_last_page_ends_the_drain(kade, store, monkeypatch) -> None:
    """Not a store's error (those are recorded and the phases go on): a fault of Kade's own is
    raised, as it was when the import ran on the drain's thread, and nothing more is sent."""
    import kade.ingest as ingest

    conn = _recovered(kade, store)

    def broken(app, connection_id, **kwargs):
        raise RuntimeError("a bug in the import")

    monkeypatch.setattr(ingest, "import_orders", broken)
    with pytest.raises(RuntimeError, match="a bug in the import"):
        drain_connection(kade, conn.id, settle=30)
    assert store.sequence == []


def test_a_recovery_import_the_store_fails_lets_the_stock_and_shipments_go(kade, store, monkeypatch) -> None:
    """A store error in the import is recorded (the import's failure event) and the next phases
    go on without waiting ``settle`` for an import that will not end well."""
    import kade.ingest.loop as loop

    conn = _recovered(kade, store)
    monkeypatch.setattr(loop, "PAGE_RETRIES", 1)
    store.fail_next("import_orders", "transient")
    ran = drain_connection(kade, conn.id, settle=30)
    assert _phases(store) == ["import_orders", "push_stock", "report_shipment"]
    assert ran["stock"] == 1 and ran["shipment"] == 1
