"""How work reaches the workers: fresh outbox actions go to the broker as their transaction
commits, on the queue of their kind; claims are renewed by one thread per process; a stock flush
shares a large backlog; long jobs may outlast Dramatiq's default limit; a failing poll is quiet.

The row is marked sent in the transaction that makes it (no second transaction per action); a
rollback sends nothing; a savepoint's release is not the commit; a send that fails leaves the
action to the sweeper; a process without a broker leaves every action to the sweeper.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlmodel import select

from kade.claims import ClaimKeeper, KeepClaimed, claim, keeper
from kade.jobs import LEGACY_QUEUES, LONG_JOB_LIMIT_MS, QUEUES, queue_priorities
from kade.models import Action, ActionKind, ActionStatus, Connection, ConnectionStatus, Event, Order
from kade.outbox import add_action
from kade.runtime import Runtime
from kade.shipments import cancel_in_store
from kade.status import change_status
from kade.stock import set_stock, set_stocks
from kade.stockpush import flush_stock
from kade.sweeper import sweep
from tests.support.factories import linked_products, make_connection, tenant_of
from tests.support.pglocks import lock_waits


class Sent:
    """What reached the broker: (queue, actor, kwargs, delay)."""

    def __init__(self, runtime: Runtime) -> None:
        self.messages: list[tuple[str, str, dict[str, Any], int | None]] = []
        real = runtime.broker.enqueue

        def enqueue(message: Any, *, delay: int | None = None) -> Any:
            self.messages.append((message.queue_name, message.actor_name, dict(message.kwargs), delay))
            return real(message, delay=delay)

        runtime.broker.enqueue = enqueue  # type: ignore[method-assign]


def _order(kade, conn) -> int:
    with kade.db.transaction() as session:
        order = Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="N1", status="open",
                      billing_address={}, shipping_address={}, raw={})
        session.add(order)
        session.flush()
        assert order.id is not None
        return order.id


def _cancel(kade, order_id: int) -> int:
    with kade.db.transaction() as session:
        cancel_in_store(session, session.get(Order, order_id))
    with kade.db.session() as session:
        action = session.exec(select(Action).where(Action.kind == ActionKind.CANCEL)).one()
        assert action.id is not None
        return action.id


def test_an_action_is_sent_on_its_own_queue_when_its_transaction_commits(kade) -> None:
    conn = make_connection(kade)
    order_id = _order(kade, conn)
    runtime = Runtime(kade).send_on_commit()
    sent = Sent(runtime)
    action_id = _cancel(kade, order_id)
    assert [(q, a, k) for q, a, k, _ in sent.messages] == [("cancellations", "kade.cancel_order",
                                                            {"action_id": action_id, "connection_id": conn.id})]
    with kade.db.session() as session:
        assert session.get(Action, action_id).enqueued_at is not None  # marked in the same transaction
    assert sweep(kade, runtime.actors).actions_sent == 0  # the sweeper does not send it again
    runtime.stop()


def test_a_rollback_sends_nothing_and_a_savepoint_is_not_the_commit(kade) -> None:
    conn = make_connection(kade)
    runtime = Runtime(kade).send_on_commit()
    sent = Sent(runtime)
    with pytest.raises(RuntimeError), kade.db.transaction() as session:
        add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL, key="k1",
                   payload={"order_id": 1})
        raise RuntimeError("the caller's change fails")
    assert sent.messages == []
    with kade.db.transaction() as session:
        with session.begin_nested():
            add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL, key="k2",
                       payload={"order_id": 1})
        assert sent.messages == []  # released, not committed: a worker could not see the row yet
    assert [a for _, a, _, _ in sent.messages] == ["kade.cancel_order"]
    runtime.stop()


def test_a_failed_send_leaves_the_action_to_the_sweeper(kade) -> None:
    conn = make_connection(kade)
    order_id = _order(kade, conn)
    runtime = Runtime(kade).send_on_commit()

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("broker down")

    real = runtime.broker.enqueue
    runtime.broker.enqueue = down  # type: ignore[method-assign]
    action_id = _cancel(kade, order_id)  # committed all the same
    runtime.broker.enqueue = real  # type: ignore[method-assign]
    sent = Sent(runtime)
    assert sweep(kade, runtime.actors, lease=0).actions_sent == 1  # once the mark is stale
    assert [k for _, _, k, _ in sent.messages] == [{"action_id": action_id, "connection_id": conn.id}]
    runtime.stop()


def test_without_a_broker_in_the_process_the_sweeper_sends(kade) -> None:
    conn = make_connection(kade)
    order_id = _order(kade, conn)
    action_id = _cancel(kade, order_id)  # no runtime: a CLI command in the embedded mode
    with kade.db.session() as session:
        assert session.get(Action, action_id).enqueued_at is None
    runtime = Runtime(kade)
    sent = Sent(runtime)
    assert sweep(kade, runtime.actors).actions_sent == 1
    assert [q for q, _, _, _ in sent.messages] == ["cancellations"]
    runtime.stop()


def test_stock_changes_send_one_delayed_flush_per_connection_and_transaction(kade) -> None:
    conn = make_connection(kade)
    tenant = tenant_of(kade)
    linked_products(kade, conn, 2)
    runtime = Runtime(kade).send_on_commit()
    sent = Sent(runtime)
    with kade.db.transaction() as session:
        set_stock(session, tenant, "P0", 5, window=1.0)
        set_stock(session, tenant, "P1", 6, window=1.0)
    assert [(a, k) for _, a, k, _ in sent.messages] == [("kade.flush_stock", {"connection_id": conn.id})]
    delay = sent.messages[0][3]
    assert delay is not None and 500 <= delay <= 1000  # at the end of the coalescing window
    with kade.db.session() as session:
        assert all(a.enqueued_at is not None for a in session.exec(select(Action)))
    runtime.stop()


def test_an_old_all_kinds_message_still_runs(kade, store) -> None:
    conn = make_connection(kade)
    order_id = _order(kade, conn)
    action_id = _cancel(kade, order_id)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        runtime.actors.run_action.send(action_id=action_id)  # queued by the release before
        runtime.join()
    finally:
        runtime.stop()
    with kade.db.session() as session:
        assert session.get(Action, action_id).status == ActionStatus.DONE
    assert store.cancellations == ["R1"]


def test_each_kind_has_its_queue_and_the_older_queue_order_still_works() -> None:
    priority = queue_priorities(",".join(QUEUES))
    assert sorted(priority, key=priority.__getitem__) == list(QUEUES)
    legacy = queue_priorities(",".join(reversed(LEGACY_QUEUES)))  # maintenance,shipments,stock,orders
    assert sorted(legacy, key=legacy.__getitem__) == [
        "alerts", "maintenance", "shipments", "cancellations", "warehouse", "stock", "orders", "recovery"]
    # the seven queues of the release before the recovery drains had theirs: recovery after orders
    seven = queue_priorities("maintenance,orders,alerts,stock,shipments,cancellations,warehouse")
    assert sorted(seven, key=seven.__getitem__) == [
        "maintenance", "orders", "recovery", "alerts", "stock", "shipments", "cancellations", "warehouse"]
    with pytest.raises(ValueError, match="must name each"):
        queue_priorities("orders,stock,shipments")


def test_cancellations_do_not_wait_behind_shipments(kade) -> None:
    runtime = Runtime(kade)
    queues = {kind: runtime.actors.for_kind(kind).queue_name for kind in ActionKind}
    assert queues[ActionKind.SHIPMENT] == "shipments"
    assert queues[ActionKind.CANCEL] == "cancellations"
    assert queues[ActionKind.WEBHOOK] == "warehouse"
    assert queues[ActionKind.ALERT] == "alerts"
    assert queues[ActionKind.IMPORT_ORDERS] == "orders"
    runtime.stop()


def test_one_renewer_thread_keeps_every_claim_of_the_process(kade) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        ids = [add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.CANCEL,
                          key=f"k{n}", payload={"order_id": n})[0] for n in range(3)]
    with kade.db.transaction() as session:
        for n, action_id in enumerate(ids):
            assert claim(session, action_id, owner=f"owner-{n}") is not None
    mine = keeper(kade)
    assert isinstance(mine, ClaimKeeper) and keeper(kade) is mine
    with KeepClaimed(kade, "owner-0"), KeepClaimed(kade, "owner-1"), KeepClaimed(kade, "owner-2"):
        assert [t.name for t in threading.enumerate()].count(mine.thread_name) == 1
    # a renewal touches only the claims it is given
    from kade.claims import renew

    assert renew(kade, ["owner-0", "owner-2", "nobody"]) == 2
    with kade.db.session() as session:
        assert session.get(Connection, conn.id) is not None


def test_long_jobs_may_outlast_the_brokers_ten_minutes(kade) -> None:
    runtime = Runtime(kade)
    limits = {name: getattr(runtime.actors, name).options.get("time_limit")
              for name in ("import_orders", "import_request", "stock_check", "link_products", "report_shipment")}
    assert limits == {"import_orders": LONG_JOB_LIMIT_MS, "import_request": LONG_JOB_LIMIT_MS,
                      "stock_check": LONG_JOB_LIMIT_MS, "link_products": LONG_JOB_LIMIT_MS, "report_shipment": None}
    runtime.stop()


def test_a_store_that_is_down_costs_a_poll_one_line_not_a_failed_job(kade, store, monkeypatch) -> None:
    """While a store answers 503 every poll fails; the import records it and the job ends quietly
    (no Dramatiq traceback and dead letter per poll for as long as the outage lasts)."""
    from kade.ingest import loop

    monkeypatch.setattr(loop, "PAGE_RETRIES", 1)  # the page's own retries are not the point
    conn = make_connection(kade)
    store.fail_next("import_orders", "transient")
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        runtime.import_orders(conn.id or 0)
        runtime.join()
        dead = list(runtime.broker.dead_letters)  # type: ignore[attr-defined]
    finally:
        runtime.stop()
    assert dead == []
    with kade.db.session() as session:
        failed = session.exec(select(Event).where(Event.kind == "orders_imported", Event.outcome == "failed")).all()
    assert len(failed) == 1


def test_a_flush_with_a_full_batch_asks_for_another_to_share_the_work(kade, store) -> None:
    """A window's worth of changes goes out in parallel batches: each full batch claimed asks for
    one more flush (another thread or process takes the next batch); a short one asks for none."""
    conn = make_connection(kade)  # the fake platform takes 50 per batch
    tenant = tenant_of(kade)
    linked_products(kade, conn, 120, store=store)
    with kade.db.transaction() as session:
        set_stocks(session, tenant, {f"P{i}": 5 for i in range(120)}, window=0)
    asked: list[int] = []
    result = flush_stock(kade, conn.id or 0, more=lambda: asked.append(1))
    assert result.pushed == 120 and result.calls == 3
    assert len(asked) == 2  # after the two full batches, not after the last 20


def test_a_flush_for_a_connection_that_may_not_send_leaves_its_pushes_to_the_sweeper(kade, store) -> None:
    """Its message is used up: the due pushes are unmarked, so the sweep sends them as soon as the
    connection may send again instead of a whole sweep age later."""
    conn = make_connection(kade)
    linked_products(kade, conn, 2, store=store)
    runtime = Runtime(kade).send_on_commit()
    with kade.db.transaction() as session:
        set_stocks(session, tenant_of(kade), {"P0": 5, "P1": 6}, window=0)
    runtime.stop()
    with kade.db.transaction() as session:
        change_status(session, session.get(Connection, conn.id), ConnectionStatus.PAUSED, reason="test", actor="test")
    assert flush_stock(kade, conn.id or 0).outcome == "waiting"
    with kade.db.session() as session:
        marks = [a.enqueued_at for a in session.exec(select(Action).where(Action.kind == ActionKind.STOCK))]
    assert len(marks) == 2 and marks == [None, None]
    assert store.stock_calls == []


def test_a_failed_push_put_back_waits_for_a_concurrent_change_and_yields_to_it(kade) -> None:
    """A push that failed goes back into its product's pending slot while a stock change for the
    same product fills that slot: the two take the connection's slot lock, so the push waits for
    the change to commit and then yields to it (superseded) — no unique-key error, no deadlock."""
    if kade.db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the two cannot overlap there")

    from kade.outcomes import release
    from kade.stockpush import _claim_stock_batch, _restore_pending_key

    conn = make_connection(kade)
    tenant = tenant_of(kade)
    linked_products(kade, conn, 1)
    with kade.db.transaction() as session:
        set_stock(session, tenant, "P0", 5, window=0)
    with kade.db.transaction() as session:
        [(pushed, _)] = _claim_stock_batch(session, conn.id, 10, owner="flush")  # on its way to the store
    session_change = kade.db.session()  # the warehouse changes the stock again, not yet committed
    session_change.begin()
    set_stock(session_change, session_change.merge(tenant), "P0", 7, window=0)
    errors: list[BaseException] = []

    def put_back() -> None:  # the store refused the push: back into the pending slot
        try:
            with kade.db.transaction() as session:
                action = session.get(Action, pushed)
                release(session, action, delay=0, error="503", kind="transient")
                _restore_pending_key(session, action)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=put_back)
    worker.start()
    deadline = time.monotonic() + 10
    while not lock_waits(kade):  # until the put-back waits on a lock
        assert time.monotonic() < deadline, "the put-back never waited"
        time.sleep(0.01)
    session_change.commit()
    session_change.close()
    worker.join(timeout=10)
    assert errors == []
    with kade.db.session() as session:
        assert session.get(Action, pushed).status == ActionStatus.CANCELLED  # superseded by the change
        [waiting] = session.exec(select(Action).where(Action.status == ActionStatus.PENDING)).all()
        assert waiting.payload["link_id"] is not None and waiting.idempotency_key.endswith(":pending")


def test_a_change_waiting_on_a_push_claimed_meanwhile_does_not_deadlock_with_its_record(kade) -> None:
    """A stock change reads its products' pending pushes, then waits on one of them (the sweeper
    holds it). Meanwhile a flush claims the others and records one as pushed. Had the claim gone
    ahead, the change would follow each claimed row to its new version, keep a lock on one and
    wait for the record's on another while the record waits for it: PostgreSQL's deadlock. The
    claim waits for the change instead (the slot lock, shared), and every step commits."""
    if kade.db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the steps cannot overlap there")
    import sqlalchemy as sa

    from kade.stockpush import _claim_stock_batch

    conn = make_connection(kade)
    tenant = tenant_of(kade)
    linked_products(kade, conn, 3)
    with kade.db.transaction() as session:
        set_stocks(session, tenant, {"P0": 1, "P1": 1, "P2": 1}, window=0)
    with kade.db.session() as session:
        first, second, third = sorted(a.id for a in session.exec(select(Action)))
    held = kade.db.session()  # the sweeper marking the first push
    held.begin()
    held.execute(sa.text("SELECT id FROM actions WHERE id = :id FOR UPDATE"), {"id": first})
    errors: list[BaseException] = []
    recorded_one = threading.Event()
    released = threading.Event()

    def change() -> None:
        try:
            with kade.db.transaction() as session:
                set_stocks(session, session.merge(tenant), {"P0": 2, "P1": 2, "P2": 2}, window=0)
        except BaseException as exc:
            errors.append(exc)

    def flush() -> None:
        try:
            with kade.db.transaction() as session:
                claimed = [a for a, _ in _claim_stock_batch(session, conn.id, 10, owner="flush")]
            with kade.db.transaction() as session:  # the record, item by item
                for action_id in sorted(claimed, reverse=True):
                    session.execute(sa.update(Action).where(Action.id == action_id)
                                    .values(status=ActionStatus.DONE))
                    recorded_one.set()
                    released.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            recorded_one.set()

    changer = threading.Thread(target=change)
    changer.start()
    deadline = time.monotonic() + 10
    while lock_waits(kade) < 1:  # the change waits on the first push
        assert time.monotonic() < deadline, "the change never waited"
        time.sleep(0.01)
    flusher = threading.Thread(target=flush)
    flusher.start()
    # the flush either records a push (claimed past the change) or waits for the change
    while not recorded_one.is_set() and lock_waits(kade) < 2:
        assert time.monotonic() < deadline, "the flush neither recorded nor waited"
        time.sleep(0.01)
    held.rollback()
    held.close()
    released.set()
    changer.join(timeout=20)
    flusher.join(timeout=20)
    assert not changer.is_alive() and not flusher.is_alive()
    assert errors == []
    with kade.db.session() as session:
        done = {a.id for a in session.exec(select(Action).where(Action.status == ActionStatus.DONE))}
    # the change coalesced into the three pending pushes, which the flush then took
    assert done == {first, second, third}
