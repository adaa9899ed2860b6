"""Batches of due actions: a worker handed one cancellation's message claims every due one of
that connection (up to ``KADE_ACTION_BATCH``) in one statement and records them in one
transaction; each store call stays its own, and a failure costs only its own action. While a
message for a connection and kind is queued, new actions of that kind send none (batch marks);
a full batch hands the rest to another message.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis
import sqlalchemy as sa
from sqlmodel import select

from kade.batchmarks import MARK_TTL, MemoryBatchMarks, RedisBatchMarks, batch_marks, mark_key
from kade.claims import claim_batch, finish_many, new_claim
from kade.executor import run_cancels, run_shipments
from kade.ingest import import_orders
from kade.manager import make_plugin_manager
from kade.models import Action, ActionKind, ActionStatus, Event, Order, Shipment, ShipmentStatus
from kade.outbox import add_action
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.types import Capabilities
from tests.conftest import REDIS_URL
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform


def _orders(kade, conn, n: int, prefix: str = "R") -> list[int]:
    with kade.db.transaction() as session:
        session.execute(sa.insert(Order), [
            {"tenant_id": conn.tenant_id, "connection_id": conn.id, "remote_id": f"{prefix}{i}", "number": f"N{i}",
             "status": "open", "billing_address": {}, "shipping_address": {}, "raw": {}} for i in range(n)])
        return list(session.exec(select(Order.id).where(Order.connection_id == conn.id).order_by(Order.id)).all())


def _cancel(kade, conn, order_id: int, *, delay: float = 0.0, kind: ActionKind = ActionKind.CANCEL) -> int:
    """One action in a transaction of its own, as the warehouse API makes them."""
    with kade.db.transaction() as session:
        action_id, _ = add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=kind,
                               key=f"{kind}:{conn.id}:{order_id}:{delay}", delay=delay,
                               payload={"order_id": order_id, "reason": "out_of_stock", "shipment_id": 0})
        return action_id


def _statuses(kade) -> dict[int, str]:
    with kade.db.session() as session:
        return {a.id: a.status for a in session.exec(select(Action))}


class Sent:
    def __init__(self, runtime: Runtime) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        real = runtime.broker.enqueue

        def enqueue(message: Any, *, delay: int | None = None) -> Any:
            self.messages.append((message.actor_name, dict(message.kwargs)))
            return real(message, delay=delay)

        runtime.broker.enqueue = enqueue  # type: ignore[method-assign]


def test_a_batch_claims_the_first_then_the_oldest_due_of_its_connection_and_kind(kade) -> None:
    conn, other = make_connection(kade), make_connection(kade, name="other")
    orders = _orders(kade, conn, 6)
    mine = [_cancel(kade, conn, o) for o in orders[:5]]
    later = _cancel(kade, conn, orders[5], delay=3600)  # not due
    shipment = _cancel(kade, conn, orders[0], kind=ActionKind.SHIPMENT)  # another kind
    theirs = _cancel(kade, other, _orders(kade, other, 1, prefix="O")[0])  # another connection
    owner = new_claim()
    with kade.db.transaction() as session:
        first = claim_batch(session, ActionKind.CANCEL, mine[4], owner, limit=3)
    assert [a.id for a in first] == sorted([mine[0], mine[1], mine[4]])  # the message's own action first
    assert {(a.status, a.claimed_by, a.attempts) for a in first} == {(ActionStatus.RUNNING, owner, 1)}
    with kade.db.transaction() as session:
        rest = claim_batch(session, ActionKind.CANCEL, mine[4], new_claim(), limit=10)
    assert [a.id for a in rest] == [mine[2], mine[3]]
    statuses = _statuses(kade)
    assert {statuses[i] for i in (later, shipment, theirs)} == {ActionStatus.PENDING}
    with kade.db.transaction() as session:
        assert claim_batch(session, ActionKind.CANCEL, mine[4], new_claim(), limit=10) == []


def test_finishing_a_batch_writes_only_what_the_claim_still_holds(kade) -> None:
    conn = make_connection(kade)
    ids = [_cancel(kade, conn, o) for o in _orders(kade, conn, 3)]
    owner = new_claim()
    with kade.db.transaction() as session:
        claim_batch(session, ActionKind.CANCEL, ids[0], owner, limit=10)
        # the sweeper took one back and another worker holds it now
        session.execute(sa.update(Action).where(Action.id == ids[1]).values(claimed_by="someone-else"))
    with kade.db.transaction() as session:
        assert finish_many(session, ids, owner, ActionStatus.DONE) == {ids[0], ids[2]}
    statuses = _statuses(kade)
    assert (statuses[ids[0]], statuses[ids[1]], statuses[ids[2]]) == (
        ActionStatus.DONE, ActionStatus.RUNNING, ActionStatus.DONE)


def test_in_a_batch_a_failing_call_costs_only_its_own_action(kade, store) -> None:
    conn = make_connection(kade)
    ids = [_cancel(kade, conn, o) for o in _orders(kade, conn, 4)]
    store.fail_next("cancel_order", "transient")  # the first call of the batch
    outcomes = run_cancels(kade, ids[2], limit=10)
    assert {i: o.status for i, o in outcomes.items()} == {ids[0]: "retry", ids[1]: "done", ids[2]: "done",
                                                          ids[3]: "done"}
    assert store.cancellations == ["R1", "R2", "R3"]
    statuses = _statuses(kade)
    assert [statuses[i] for i in ids] == [ActionStatus.PENDING] + [ActionStatus.DONE] * 3
    with kade.db.session() as session:
        events = session.exec(select(Event.action_id, Event.outcome).where(Event.kind == "order_cancel")).all()
    assert sorted(events) == sorted([(ids[0], "retry"), (ids[1], "ok"), (ids[2], "ok"), (ids[3], "ok")])


def test_in_a_batch_a_cancel_for_another_connections_order_fails_alone(kade, store) -> None:
    conn, other = make_connection(kade), make_connection(kade, name="other")
    good = _cancel(kade, conn, _orders(kade, conn, 1)[0])
    foreign = _cancel(kade, conn, _orders(kade, other, 1, prefix="O")[0])  # rule R1 broken behind the API
    outcomes = run_cancels(kade, good, limit=10)
    assert (outcomes[good].status, outcomes[foreign].status) == ("done", "rejected")
    assert "came from connection" in outcomes[foreign].detail
    assert store.cancellations == ["R0"]
    statuses = _statuses(kade)
    assert (statuses[good], statuses[foreign]) == (ActionStatus.DONE, ActionStatus.FAILED)


def test_while_a_message_is_queued_new_actions_of_its_connection_and_kind_send_none(kade) -> None:
    conn, other = make_connection(kade), make_connection(kade, name="other")
    orders, theirs = _orders(kade, conn, 4), _orders(kade, other, 1, prefix="O")
    runtime = Runtime(kade).send_on_commit()
    sent = Sent(runtime)
    try:
        ids = [_cancel(kade, conn, o) for o in orders[:3]]
        their_id = _cancel(kade, other, theirs[0])
        assert sent.messages == [("kade.cancel_order", {"action_id": ids[0], "connection_id": conn.id}),
                                 ("kade.cancel_order", {"action_id": their_id, "connection_id": other.id})]
        marks = batch_marks(kade, runtime.broker)
        assert marks is not None
        marks.clear(mark_key(ActionKind.CANCEL, conn.id))  # what the worker does before it claims
        later = _cancel(kade, conn, orders[3])
        assert sent.messages[-1] == ("kade.cancel_order", {"action_id": later, "connection_id": conn.id})
    finally:
        runtime.stop()


def test_a_send_that_fails_clears_the_mark(kade) -> None:
    conn = make_connection(kade)
    orders = _orders(kade, conn, 2)
    runtime = Runtime(kade).send_on_commit()
    real = runtime.broker.enqueue

    def down(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("broker down")

    runtime.broker.enqueue = down  # type: ignore[method-assign]
    try:
        _cancel(kade, conn, orders[0])  # committed; its send failed (the sweeper re-drives it)
        runtime.broker.enqueue = real  # type: ignore[method-assign]
        sent = Sent(runtime)
        second = _cancel(kade, conn, orders[1])
        assert sent.messages == [("kade.cancel_order", {"action_id": second, "connection_id": conn.id})]
    finally:
        runtime.stop()


def test_a_full_batch_hands_the_rest_to_another_message(kade, store) -> None:
    kade.settings.action_batch = 4
    conn = make_connection(kade)
    orders = _orders(kade, conn, 10)
    runtime = Runtime(kade).send_on_commit()
    sent = Sent(runtime)
    try:
        ids = [_cancel(kade, conn, o) for o in orders]  # no worker yet: one message waits for all ten
        assert len(sent.messages) == 1
        runtime.start(threads=1, tick=0)
        runtime.join()
    finally:
        runtime.stop()
    assert set(_statuses(kade).values()) == {ActionStatus.DONE}
    assert sorted(store.cancellations) == sorted(f"R{i}" for i in range(10))
    assert len(ids) == 10 and len(sent.messages) == 3  # 4 + 4 + 2


def test_memory_marks_expire(monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr("kade.batchmarks.time.monotonic", lambda: now[0])
    marks = MemoryBatchMarks()
    assert marks.mark("k", 10) is True
    assert marks.mark("k", 10) is False
    now[0] += 10.5  # its message was lost: the mark holds new messages back no longer
    assert marks.mark("k", 10) is True
    marks.clear("k")
    assert marks.mark("k", 10) is True


@pytest.mark.redis
def test_redis_marks_are_shared_and_expire() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    key = mark_key("cancel", 987654)
    client.delete(key)
    try:
        one, two = RedisBatchMarks(client), RedisBatchMarks(redis.Redis.from_url(REDIS_URL))
        assert one.mark(key, MARK_TTL) is True
        assert two.mark(key, MARK_TTL) is False  # another process sees it
        assert 0 < client.pttl(key) <= MARK_TTL * 1000
        two.clear(key)
        assert one.mark(key, MARK_TTL) is True
    finally:
        client.delete(key)


def test_a_mark_that_cannot_be_written_sends_anyway() -> None:
    marks = RedisBatchMarks(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    assert marks.mark("k", MARK_TTL) is True  # better a message too many than an action left waiting


@pytest.fixture
def first_tracking_kade(kade, store):
    """A platform that takes the tracking code only with an order's first report."""
    kade._pm = make_plugin_manager(load_entrypoints=False, plugins=[(FakePlatform(
        store, capabilities=Capabilities(tracking="first", stock_batch_size=10)), "fake")])
    return kade


def _shipments(kade, store, conn) -> list[int]:
    """Three reports: two of order S1 (in two parcels), one of S2; their action ids in order."""
    store.add_order("S1", [("A", None, 2), ("B", None, 1)])
    store.add_order("S2", [("A", None, 1)])
    import_orders(kade, conn.id, full=True)
    with kade.db.transaction() as session:
        s1 = session.exec(select(Order).where(Order.remote_id == "S1")).one()
        s2 = session.exec(select(Order).where(Order.remote_id == "S2")).one()
        create_shipment(session, s1, carrier="PostNL", tracking_code="T1", lines={"A": 2})
        create_shipment(session, s1, carrier="PostNL", tracking_code="T2", lines={"B": 1})
        create_shipment(session, s2, carrier="PostNL", tracking_code="T3")
    with kade.db.session() as session:
        return list(session.exec(select(Action.id).where(Action.kind == ActionKind.SHIPMENT)
                                 .order_by(Action.id)).all())


def test_two_reports_of_one_order_never_share_a_batch(first_tracking_kade, store) -> None:
    kade = first_tracking_kade
    conn = make_connection(kade)
    ids = _shipments(kade, store, conn)
    asked: list[str] = []
    outcomes = run_shipments(kade, ids[0], 10, more=lambda: asked.append("more"))
    assert {i: o.status for i, o in outcomes.items()} == {ids[0]: "done", ids[1]: "deferred", ids[2]: "done"}
    assert asked == ["more"]  # the deferred one is not left to the next sweep alone
    with kade.db.session() as session:
        deferred = session.get(Action, ids[1])
        assert (deferred.status, deferred.attempts, deferred.enqueued_at) == (ActionStatus.PENDING, 0, None)
    assert run_shipments(kade, ids[0], 10)[ids[1]].status == "done"
    # built after the first parcel had landed: no second tracking code for S1 (tracking="first")
    assert [(s["order"], s["tracking"]) for s in store.shipments] == [("S1", "T1"), ("S2", "T3"), ("S1", None)]
    with kade.db.session() as session:
        assert {s.status for s in session.exec(select(Shipment))} == {ShipmentStatus.REPORTED}
        events = session.exec(select(Event.action_id).where(Event.kind == "shipment_report",
                                                            Event.outcome == "ok")).all()
    assert sorted(events) == ids


def test_in_a_batch_a_failing_report_costs_only_its_own_action(kade, store) -> None:
    conn = make_connection(kade)
    ids = _shipments(kade, store, conn)
    store.fail_next("report_shipment", "unknown")  # S1's first parcel lands, its answer is lost
    outcomes = run_shipments(kade, ids[0], 10)
    assert (outcomes[ids[0]].status, outcomes[ids[2]].status) == ("retry", "done")
    with kade.db.transaction() as session:  # due again now
        session.execute(sa.update(Action).where(Action.id == ids[0]).values(next_attempt_at=sa.func.now()))
    again = run_shipments(kade, ids[0], 10)
    assert (again[ids[0]].status, again[ids[1]].status) == ("done", "deferred")
    assert store.calls.get("check_shipment") == 1  # asked before sending again: found, not re-sent
    assert sorted(s["key"] for s in store.shipments) == sorted(f"kade-shipment-{n}" for n in (1, 3))


def test_a_batch_for_a_connection_that_may_not_send_waits_uncounted(kade, store) -> None:
    from kade.models import Connection, ConnectionStatus
    from kade.status import change_status

    conn = make_connection(kade)
    ids = [_cancel(kade, conn, o) for o in _orders(kade, conn, 3)]
    with kade.db.transaction() as session:
        change_status(session, session.get(Connection, conn.id), ConnectionStatus.NEEDS_REAUTH, reason="test",
                      actor="test")
    outcomes = run_cancels(kade, ids[0], 10)
    assert {o.status for o in outcomes.values()} == {"waiting"} and set(outcomes) == set(ids)
    assert store.cancellations == []
    with kade.db.session() as session:
        rows = session.exec(select(Action)).all()
    assert {(a.status, a.attempts, a.enqueued_at) for a in rows} == {(ActionStatus.PENDING, 0, None)}


def test_a_redis_broker_without_kade_redis_has_no_marks(kade) -> None:
    """Marks kept in one process's memory would hold another process's messages back: none then."""
    from dramatiq.brokers.redis import RedisBroker

    assert kade.redis is None
    assert batch_marks(kade, RedisBroker(url=REDIS_URL)) is None


def test_a_batch_of_reports_reads_its_shipments_and_lines_once_whatever_its_size(kade, store) -> None:
    """Building each report read the order's shipments and the report's lines: two statements
    per report, most of a report's own cost in a drain. A batch reads them once for all."""
    conn = make_connection(kade)
    for n in range(6):
        store.add_order(f"S{n}", [("A", None, 1), ("B", None, 2)])
    import_orders(kade, conn.id, full=True)
    with kade.db.transaction() as session:
        for order in session.exec(select(Order).order_by(Order.id)).all():
            create_shipment(session, order, carrier="PostNL", tracking_code=f"T{order.remote_id}")
    with kade.db.session() as session:
        first = session.exec(select(Action.id).where(Action.kind == ActionKind.SHIPMENT).order_by(Action.id)).first()
    reads: list[str] = []

    def record(conn_, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and ("shipment_lines" in statement
                                                                or "FROM shipments" in statement):
            reads.append(statement)

    sa.event.listen(kade.db.engine, "before_cursor_execute", record)
    try:
        outcomes = run_shipments(kade, first, 10)
    finally:
        sa.event.remove(kade.db.engine, "before_cursor_execute", record)
    assert [o.status for o in outcomes.values()] == ["done"] * 6
    assert sorted((s["order"], s["tracking"], sorted(quantity for _, quantity in s["lines"]))
                  for s in store.shipments) == [(f"S{n}", f"TS{n}", [1, 2]) for n in range(6)]
    assert len(reads) == 2, reads
