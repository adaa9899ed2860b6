"""``kade recover``: the dry-run plan shows what each connection missed; the run re-drives exactly
that, orders first, then stock, then shipments, with nothing sent twice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import select

from kade.catalog import link_store_products
from kade.errors import UserError
from kade.executor import run_action
from kade.ingest import import_orders
from kade.models import Action, ActionKind, ActionStatus, Connection, Order, Product, utcnow
from kade.recovery import plan_recovery, run_recovery
from kade.recovery_drain import drain_connection
from kade.runstate import acquire_import, finish_import, import_succeeded
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.stock import set_stock
from kade.stockpush import flush_stock
from tests.support.factories import make_connection, tenant_of


class _Recorder:
    """Stands in for an actor: records what was sent, in order."""

    def __init__(self, name: str, sent: list[tuple[str, Any]]) -> None:
        self.name = name
        self.sent = sent

    def send(self, **kwargs: Any) -> None:
        self.sent.append((self.name, kwargs))

    def send_with_options(self, *, kwargs: dict[str, Any], delay: int | None = None) -> None:
        self.sent.append((self.name, kwargs))


def _outage(kade, store) -> tuple[Connection, int]:
    """One connection: an order imported, then the store went down while a shipment and a stock
    change waited; the shipment's retries ran out."""
    kade.settings.max_attempts = 1
    conn = make_connection(kade)
    store.add_product("P1", "A", None, stock=0)
    store.add_order("S1", [("A", None, 2)])
    import_orders(kade, conn.id, full=True)
    link_store_products(kade, conn.id)  # links store product P1 to SKU A
    with kade.db.transaction() as session:
        tenant = tenant_of(kade)
        order = session.exec(select(Order).where(Order.remote_id == "S1")).one()
        create_shipment(session, order, carrier="PostNL", tracking_code="3SOUT")
        set_stock(session, session.merge(tenant), "A", 7, window=0)
    with kade.db.session() as session:
        shipment_action = session.exec(select(Action).where(Action.kind == ActionKind.SHIPMENT)).one()
    store.fail_next("report_shipment", "transient")
    assert run_action(kade, shipment_action.id).status == "failed"
    return conn, shipment_action.id


def test_dry_run_plan_names_what_each_connection_missed(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    [gap] = plan.connections
    assert gap.connection_id == conn.id and gap.status == "active"
    assert gap.failed == {"shipment": 1}
    assert gap.pending.get("stock", 0) >= 1
    assert gap.import_since is not None and gap.import_since <= since
    assert plan.totals()["shipment"] == 1
    assert store.calls.get("report_shipment") == 1  # the plan itself sent nothing
    assert gap.stock_products == 1 == plan.stock_products()


def test_the_plan_counts_stock_in_products_not_actions(kade, store) -> None:
    """A failed push and the newer one waiting behind it are one product to send; a failure
    before the window is not part of it."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.transaction() as session:
        pending = session.exec(select(Action).where(Action.kind == ActionKind.STOCK)).one()
        link = pending.payload["link_id"]
        for n, (status, at) in enumerate([(ActionStatus.FAILED, utcnow()), (ActionStatus.FAILED, utcnow()),
                                          (ActionStatus.FAILED, since - timedelta(hours=1))]):
            session.add(Action(tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.STOCK,
                               idempotency_key=f"stock:{conn.id}:{link}:old{n}", status=status,
                               payload={"link_id": link if n < 2 else link + 1000}, updated_at=at))
    with kade.db.session() as session:
        [gap] = plan_recovery(session, since).connections
    assert (gap.pending.get("stock"), gap.failed.get("stock")) == (1, 2)
    assert gap.stock_products == 1


def test_a_failure_before_the_window_is_not_part_of_it(kade, store) -> None:
    _outage(kade, store)
    later = utcnow() + timedelta(minutes=1)
    with kade.db.session() as session:
        plan = plan_recovery(session, later, later + timedelta(hours=1))
    assert plan.connections[0].failed == {}


def test_bad_windows_are_refused(kade) -> None:
    now = datetime.now(UTC)
    with kade.db.session() as session:
        with pytest.raises(UserError, match="before"):
            plan_recovery(session, now, now - timedelta(hours=1))
        with pytest.raises(UserError, match="time zone"):
            plan_recovery(session, datetime(2026, 1, 1), now)


def _phases(store) -> list[str]:
    """The store's calls with repeats folded: the order the phases reached it in."""
    seen: list[str] = []
    for operation in store.sequence:
        if not seen or seen[-1] != operation:
            seen.append(operation)
    return seen


def test_recovery_queues_one_job_per_connection_which_sends_orders_then_stock_then_shipments(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    sent: list[tuple[str, Any]] = []
    actors = SimpleNamespace(recover_connection=_Recorder("recover_connection", sent))
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    result = run_recovery(kade, actors, plan, settle=30)  # type: ignore[arg-type]
    assert result.retried == 1 and result.imports_requested == 1
    assert sent == [("recover_connection", {"connection_id": conn.id, "settle": 30})]
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).order_cursor <= since
    store.sequence.clear()
    ran = drain_connection(kade, conn.id, settle=30)
    assert _phases(store) == ["import_orders", "push_stock", "report_shipment"]
    assert ran["stock"] == 1 and ran["shipment"] == 1
    assert len(store.shipments) == 1 and store.products["P1"]["stock"] == 7


def _hold_import(kade, connection_id: int) -> None:
    """An import of this connection is running elsewhere (a scheduler poll)."""
    with kade.db.transaction() as session:
        assert acquire_import(session, connection_id, "a-scheduler-poll", 300)


def _end_import(kade, connection_id: int, store) -> None:
    with store.lock:
        store.sequence.append("the running import ended")
    with kade.db.transaction() as session:
        assert finish_import(session, connection_id, "a-scheduler-poll", 300) is True  # the recovery asked again
        import_succeeded(session, session.get(Connection, connection_id))


def _waiting_for_import(monkeypatch) -> threading.Event:
    """Set once the drain has looked twice whether the import ended: it is waiting for it."""
    import kade.recovery_drain as recovery_drain

    looks, waiting = [0], threading.Event()
    real = recovery_drain._import_ended

    def counting(*args: Any) -> bool:
        looks[0] += 1
        if looks[0] >= 2:
            waiting.set()
        return real(*args)

    monkeypatch.setattr(recovery_drain, "_import_ended", counting)
    return waiting


def test_the_stock_waits_for_an_import_that_was_already_running(kade, store, monkeypatch) -> None:
    """The recovery's own import coalesces into a scheduler poll's: the stock must wait for that
    one, not go out the moment its own request returned."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.session() as session:
        run_recovery(kade, None, plan_recovery(session, since))
    _hold_import(kade, conn.id)
    waiting = _waiting_for_import(monkeypatch)
    store.sequence.clear()
    worker = threading.Thread(target=drain_connection, args=(kade, conn.id), kwargs={"settle": 30})
    worker.start()
    assert waiting.wait(timeout=30)
    _end_import(kade, conn.id, store)
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert _phases(store) == ["the running import ended", "push_stock", "report_shipment"]


def test_a_failed_import_ends_its_phase_at_once(kade, store, monkeypatch) -> None:
    """The store fails the recovery's import: recorded, and the stock goes without waiting for
    an import that will not end (the next poll tries the orders again)."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.session() as session:
        run_recovery(kade, None, plan_recovery(session, since))
    import kade.ingest.loop as loop

    monkeypatch.setattr(loop, "PAGE_RETRIES", 1)  # the page fails for good at once
    waiting = _waiting_for_import(monkeypatch)
    store.sequence.clear()
    store.fail_next("import_orders", "transient")
    drain_connection(kade, conn.id, settle=30)
    assert not waiting.is_set()  # looked once: the failure ended the phase
    assert _phases(store) == ["import_orders", "push_stock", "report_shipment"]


def test_what_waited_for_its_backoff_is_the_recoverys_too(kade, store) -> None:
    """The operator says the stores are back: an action backing off is due now and the jobs send
    it with the rest (marked as sent, the sweeper leaves it to them)."""
    from kade.outbox import add_action

    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.transaction() as session:
        later, _ = add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL,
                              key="cancel:later", payload={"order_id": 0, "reason": "test"}, delay=3600)
    actors = SimpleNamespace(recover_connection=_Recorder("recover_connection", []))
    with kade.db.session() as session:
        result = run_recovery(kade, actors, plan_recovery(session, since), settle=30)  # type: ignore[arg-type]
    assert result.rescheduled == 1
    with kade.db.session() as session:
        pending = session.exec(select(Action).where(Action.status == ActionStatus.PENDING)).all()
    assert {a.id for a in pending} >= {later}
    assert all(a.enqueued_at is not None and a.next_attempt_at <= utcnow() for a in pending)


def test_a_phase_waits_no_longer_than_settle(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    with kade.db.session() as session:
        run_recovery(kade, None, plan_recovery(session, since))
    _hold_import(kade, conn.id)  # and it never ends
    store.sequence.clear()
    drain_connection(kade, conn.id, settle=0.2)
    assert _phases(store) == ["push_stock", "report_shipment"]


def recover_on_workers(kade, since: datetime) -> None:
    """Plan and run the recovery from ``since`` on one in-process worker thread, to its end."""
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with kade.db.session() as session:
            plan = plan_recovery(session, since)
        run_recovery(kade, runtime.actors, plan)
        runtime.drain()
    finally:
        runtime.stop()


def test_recovery_drains_everything_exactly_once(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    recover_on_workers(kade, since)
    assert len(store.shipments) == 1 and store.shipments[0]["tracking"] == "3SOUT"
    assert store.products["P1"]["stock"] == 7
    with kade.db.session() as session:
        left = session.exec(select(Action).where(Action.status != ActionStatus.DONE)).all()
    assert [(a.kind, a.status) for a in left] == []


def test_a_slow_import_holds_back_only_its_own_connection(kade, store, monkeypatch) -> None:
    """Each connection is its own job: a second connection drains to the end while the first
    one still waits for its import."""
    from kade.outbox import add_action

    first, second = make_connection(kade), make_connection(kade, name="second")
    with kade.db.transaction() as session:
        for conn in (first, second):
            add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL,
                       key=f"cancel:{conn.id}", payload={"order_id": 0, "reason": "test"})
    _hold_import(kade, first.id)
    waiting = _waiting_for_import(monkeypatch)
    slow = threading.Thread(target=drain_connection, args=(kade, first.id), kwargs={"settle": 30})
    slow.start()
    assert waiting.wait(timeout=30)
    ran = drain_connection(kade, second.id, settle=30)
    assert ran["cancel"] == 1 and slow.is_alive()  # the first still waits for its import
    _end_import(kade, first.id, store)
    slow.join(timeout=30)
    assert not slow.is_alive()
    with kade.db.session() as session:
        statuses = {a.connection_id: a.status for a in session.exec(select(Action)).all()}
    assert statuses == {first.id: ActionStatus.FAILED, second.id: ActionStatus.FAILED}  # order 0: no such order


def test_a_sweep_during_the_run_leaves_its_phases_to_it(kade, store, monkeypatch) -> None:
    """The worker process sweeps every tick while a recovery runs: what the recovery will send
    in phase order must not go out with that sweep, ahead of the import."""
    import kade.ingest as ingest
    from kade.sweeper import sweep

    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    swept: list[tuple[str, Any]] = []
    sweeper_actors = SimpleNamespace(flush_stock=_Recorder("flush_stock", swept),
                                     for_kind=lambda kind: _Recorder(str(kind), swept))
    real_import = ingest.import_orders

    def import_with_a_sweep(*args: Any, **kwargs: Any) -> Any:
        sweep(kade, sweeper_actors)  # type: ignore[arg-type]  # a tick in the worker process, mid-import
        return real_import(*args, **kwargs)

    monkeypatch.setattr(ingest, "import_orders", import_with_a_sweep)
    actors = SimpleNamespace(recover_connection=SimpleNamespace(
        send=lambda connection_id, settle: drain_connection(kade, connection_id, settle=settle)))
    store.sequence.clear()
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    run_recovery(kade, actors, plan, settle=30)  # type: ignore[arg-type]
    assert swept == []
    assert _phases(store) == ["import_orders", "push_stock", "report_shipment"]


def test_a_full_batch_asks_another_worker_for_the_next(kade, store) -> None:
    """As the actors do: while this thread waits for the store, another prepares the next batch."""
    from kade.outbox import add_action

    conn = make_connection(kade)
    kade.settings.action_batch = 2
    with kade.db.transaction() as session:
        for n in range(3):
            add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL,
                       key=f"cancel:{n}", payload={"order_id": 0, "reason": "test"})
    asked: list[tuple[ActionKind, int]] = []
    ran = drain_connection(kade, conn.id, settle=30, more=lambda kind, action_id: asked.append((kind, action_id)))
    assert ran["cancel"] == 3
    assert asked and asked[0][0] == ActionKind.CANCEL  # the first batch of two was full


def test_a_failed_stock_push_with_a_newer_one_for_its_product_is_superseded_not_retried(kade, store) -> None:
    """One push sends a product's stock as it is then: after an outage, the failed push of a
    product that changed again adds only a claim and an unchanged item to the drain."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)  # product A: a pending stock change
    store.add_product("P2", "B", None, stock=0)
    with kade.db.transaction() as session:
        session.add(Product(tenant_id=tenant_of(kade).id, sku="B", stock=0))
    link_store_products(kade, conn.id)
    with kade.db.transaction() as session:
        set_stock(session, session.merge(tenant_of(kade)), "B", 4, window=0)
    store.fail_next("push_stock", "transient")
    flush_stock(kade, conn.id)  # A's and B's pushes fail for good (one attempt allowed)
    with kade.db.transaction() as session:
        set_stock(session, session.merge(tenant_of(kade)), "A", 9, window=0)  # A changes again
    with kade.db.session() as session:
        failed = {a.payload["link_id"]: a.id for a in session.exec(
            select(Action).where(Action.kind == ActionKind.STOCK, Action.status == ActionStatus.FAILED)).all()}
        plan = plan_recovery(session, since)
    assert len(failed) == 2
    result = run_recovery(kade, None, plan)
    assert result.superseded == 1 and result.retried == 2  # B's push and the shipment
    with kade.db.session() as session:
        rows = session.exec(select(Action).where(Action.kind == ActionKind.STOCK).order_by(Action.id)).all()
    statuses = [(a.payload["link_id"], a.status) for a in rows]
    a_link = rows[-1].payload["link_id"]  # the newest: A's second change
    b_link = next(link for link in failed if link != a_link)
    assert statuses.count((a_link, ActionStatus.CANCELLED)) == 1
    assert (b_link, ActionStatus.PENDING) in statuses and statuses[-1] == (a_link, ActionStatus.PENDING)
    flush_stock(kade, conn.id)
    assert store.products["P1"]["stock"] == 9 and store.products["P2"]["stock"] == 4


def test_a_recovery_resets_what_the_outage_cost_the_actions_still_pending(kade, store) -> None:
    """A push one failure short of its last attempt, waiting out a long backoff: the recovery makes
    it due now with its attempts reset, so a 503 of the drain costs one attempt, not the push."""
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    kade.settings.max_attempts = 2
    with kade.db.transaction() as session:
        push = session.exec(select(Action).where(Action.kind == ActionKind.STOCK)).one()
        push.attempts, push.next_attempt_at = 1, utcnow() + timedelta(hours=1)
        session.add(push)
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    result = run_recovery(kade, None, plan)
    assert result.rescheduled == 1
    with kade.db.session() as session:
        push = session.exec(select(Action).where(Action.kind == ActionKind.STOCK)).one()
        assert push.attempts == 0 and push.next_attempt_at <= utcnow()
    store.fail_next("push_stock", "transient")
    flush_stock(kade, conn.id)
    with kade.db.transaction() as session:
        push = session.exec(select(Action).where(Action.kind == ActionKind.STOCK)).one()
        assert push.status == ActionStatus.PENDING and push.attempts == 1
        push.next_attempt_at = utcnow()  # its backoff over
        session.add(push)
    flush_stock(kade, conn.id)
    assert store.products["P1"]["stock"] == 7


def test_a_recovery_that_changes_thousands_of_actions_refreshes_their_statistics(kade, store, monkeypatch) -> None:
    """Put back to pending in bulk, the actions' statistics still say pending is rare: every claim
    of the drain would be planned for that. Past ``BULK_ANALYZE`` changed rows the run refreshes
    them (here the bound is lowered, so one outage of one connection crosses it)."""
    if kade.db.dialect != "postgresql":
        pytest.skip("ANALYZE is PostgreSQL's; SQLite plans without table statistics here")
    import sqlalchemy as sa

    import kade.recovery as recovery

    def analyzed() -> int:
        with kade.db.engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'actions'")).scalar_one())

    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    actors = SimpleNamespace(recover_connection=_Recorder("recover_connection", []))
    before = analyzed()
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    monkeypatch.setattr(recovery, "BULK_ANALYZE", 10**6)
    run_recovery(kade, actors, plan)  # type: ignore[arg-type]
    assert analyzed() == before  # a small recovery leaves them to autovacuum
    monkeypatch.setattr(recovery, "BULK_ANALYZE", 2)  # the failed shipment and the pending stock
    run_recovery(kade, actors, plan)  # type: ignore[arg-type]
    assert analyzed() == before + 1
