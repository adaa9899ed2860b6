"""Retries, capabilities, the origin rule (property-tested), migration, scheduler and health."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from kade.errors import OriginError, UserError
from kade.executor import backoff, run_action
from kade.health import check_alerts, health
from kade.ingest import import_orders
from kade.login_migration import migrate
from kade.manager import make_plugin_manager
from kade.models import (
    Action,
    ActionStatus,
    Connection,
    ConnectionStatus,
    Notification,
    Order,
    OrderState,
    Shipment,
    ShipmentStatus,
)
from kade.runtime import Runtime
from kade.scheduler import Scheduler
from kade.shipments import cancel_in_store, check_origin, create_shipment
from kade.status import change_status
from kade.types import Capabilities
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform


def _due_now(kade, action_id: int) -> None:
    with kade.db.transaction() as session:
        row = session.get(Action, action_id)
        row.next_attempt_at = row.created_at - timedelta(seconds=1)
        session.add(row)


def _order(kade, store, conn, remote_id="S1", lines=(("A", None, 2), ("B", None, 1))):
    store.add_order(remote_id, list(lines))
    import_orders(kade, conn.id, full=True)
    with kade.db.session() as session:
        return session.exec(select(Order).where(Order.remote_id == remote_id)).one()


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    import random

    rng = random.Random(1)
    values = [backoff(n, rng) for n in range(1, 30)]
    assert 1.0 <= values[0] <= 2.0
    assert values[5] > values[0]
    assert max(values) <= 3600


def test_transient_errors_retry_then_fail_with_notification_and_can_be_retried(kade, store) -> None:
    kade.settings.max_attempts = 3
    conn = make_connection(kade)
    order = _order(kade, store, conn)
    store.fail_next("report_shipment", "transient", "transient", "transient")
    with kade.db.transaction() as session:
        create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S")
    with kade.db.session() as session:
        action_id = session.exec(select(Action)).one().id
    outcomes = []
    for _ in range(3):
        outcomes.append(run_action(kade, action_id).status)
        _due_now(kade, action_id)
    assert outcomes == ["retry", "retry", "failed"]
    with kade.db.session() as session:
        action = session.get(Action, action_id)
        assert action.status == ActionStatus.FAILED and "503" in action.last_error
        assert session.exec(select(Notification)).one().kind == "retries_exhausted"


def test_rate_limited_action_waits_retry_after_without_spending_an_attempt(kade, store) -> None:
    conn = make_connection(kade)
    order = _order(kade, store, conn)
    store.fail_next("report_shipment", "rate")
    with kade.db.transaction() as session:
        create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S")
    with kade.db.session() as session:
        action_id = session.exec(select(Action)).one().id
    assert run_action(kade, action_id).status == "rate_limited"
    with kade.db.session() as session:
        action = session.get(Action, action_id)
        assert action.attempts == 0 and action.status == ActionStatus.PENDING
        assert action.next_attempt_at > action.updated_at  # waits 0.05 s, as the store said


@pytest.fixture
def no_partials_kade(kade, store):
    kade._pm = make_plugin_manager(load_entrypoints=False, plugins=[(FakePlatform(
        store, capabilities=Capabilities(partial_shipments=False, tracking="first", stock_batch_size=10)), "fake")])
    return kade


def test_platform_without_partial_shipments_gets_one_report_when_complete(no_partials_kade, store) -> None:
    kade = no_partials_kade
    conn = make_connection(kade)
    order = _order(kade, store, conn)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with kade.db.transaction() as session:
            first = create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S-A",
                                    lines={"A": 2})
        runtime.drain()
        assert store.shipments == []  # held
        with kade.db.transaction() as session:
            create_shipment(session, session.get(Order, order.id), carrier="PostNL", tracking_code="3S-B",
                            lines={"B": 1})
        runtime.drain()
    finally:
        runtime.stop()
    assert len(store.shipments) == 1
    assert sorted(store.shipments[0]["lines"]) == [("S1-0", 2), ("S1-1", 1)]
    with kade.db.session() as session:
        assert session.get(Shipment, first.id).status == ShipmentStatus.REPORTED


def test_warehouse_cancel_goes_to_the_origin_store(kade, store) -> None:
    conn = make_connection(kade)
    order = _order(kade, store, conn)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with kade.db.transaction() as session:
            cancel_in_store(session, session.get(Order, order.id), reason="out_of_stock")
        runtime.drain()
    finally:
        runtime.stop()
    assert store.cancellations == ["S1"]
    with kade.db.transaction() as session:
        row = session.get(Order, order.id)
        assert row.status == OrderState.CANCELLED
        with pytest.raises(UserError, match="already cancelled"):
            cancel_in_store(session, row)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(origin=st.integers(1, 10_000), target=st.integers(1, 10_000))
def test_origin_rule_property(origin: int, target: int) -> None:
    """R1: a shipment or cancellation may only go to the connection the order came from."""
    order = Order(id=1, tenant_id=1, connection_id=origin, remote_id="R", number="N")
    if origin == target:
        check_origin(order, target)
    else:
        with pytest.raises(OriginError, match=f"came from connection {origin}"):
            check_origin(order, target)


def test_shipment_to_another_connection_is_refused_and_nothing_is_recorded(kade, store) -> None:
    conn = make_connection(kade)
    other = make_connection(kade, name="other")
    order = _order(kade, store, conn)
    with pytest.raises(OriginError), kade.db.transaction() as session:
        create_shipment(session, session.get(Order, order.id), carrier="DHL", tracking_code="X",
                        target_connection_id=other.id)
    with kade.db.session() as session:
        assert session.exec(select(Shipment)).all() == []
        assert session.exec(select(Action)).all() == []


def test_migration_switches_only_after_live_verification(kade, store) -> None:
    conn = make_connection(kade)
    with pytest.raises(UserError, match="migration of shop failed, nothing changed"):
        migrate(kade, conn.id, "new_token", {"token": "wrong"}, actor="test")
    with kade.db.session() as session:
        row = session.get(Connection, conn.id)
        assert (row.auth_method, row.status) == ("token", ConnectionStatus.ACTIVE)
        assert kade.credentials(row) == {"token": "good"}
        assert session.exec(select(Notification)).one().kind == "migration_failed"
    store.valid_tokens.add("fresh-token-1")
    migrate(kade, conn.id, "new_token", {"token": "fresh-token-1"}, actor="test")
    with kade.db.session() as session:
        row = session.get(Connection, conn.id)
        assert row.auth_method == "new_token" and kade.credentials(row) == {"token": "fresh-token-1"}
        assert row.status == ConnectionStatus.ACTIVE


def test_only_one_of_two_schedulers_acts(kade, store) -> None:
    make_connection(kade)
    rt = Runtime(kade)
    a = Scheduler(kade, rt.actors, holder="a")
    b = Scheduler(kade, rt.actors, holder="b")
    assert a.tick() is True
    assert b.tick() is False
    assert a.tick() is True
    # a dies: once its lease runs out, b takes over
    with kade.db.transaction() as session:
        from kade.models import Lease

        lease = session.get(Lease, "scheduler")
        lease.expires_at = lease.expires_at - timedelta(seconds=60)
        session.add(lease)
    assert b.tick() is True
    assert a.tick() is False
    # b carries on from the poll a recorded in the database: no second poll before the interval
    assert rt.broker.queues["orders"].qsize() == 1


def test_active_connection_drop_raises_the_alert(kade) -> None:
    conns = [make_connection(kade, name=f"c{i}") for i in range(5)]
    assert health(kade).ok
    with kade.db.transaction() as session:
        for conn in conns[:2]:
            change_status(session, session.get(Connection, conn.id), ConnectionStatus.DISABLED,
                          reason="release 1.2 dropped old logins", actor="release")
    report = check_alerts(kade)
    assert any("2 of 5 active connections stopped being active" in a for a in report.alerts)
    with kade.db.session() as session:
        kinds = [n.kind for n in session.exec(select(Notification))]
    assert "active_connections_dropped" in kinds


def test_single_pause_below_threshold_does_not_alert(kade) -> None:
    conns = [make_connection(kade, name=f"c{i}") for i in range(10)]
    with kade.db.transaction() as session:
        change_status(session, session.get(Connection, conns[0].id), ConnectionStatus.PAUSED, reason="x", actor="op")
    assert not any("stopped being active" in a for a in health(kade).alerts)


def test_job_log_lines_carry_the_job_context(kade, store) -> None:
    """The middleware binds the message's ids, so every line a job logs names its connection."""
    import structlog

    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
            runtime.import_orders(conn.id)
            runtime.join()
    finally:
        runtime.stop()
    imported = [e for e in logs if e["event"] == "orders_imported"]
    assert imported and imported[0]["job"] == "kade.import_orders"
    assert imported[0]["connection_id"] == conn.id and "message_id" in imported[0]


def test_full_stock_check_corrects_only_the_drift(kade, store) -> None:
    from kade.models import Product, ProductLink
    from kade.stockcheck import full_stock_check
    from tests.support.factories import tenant_of

    conn = make_connection(kade)
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        for i in range(4):
            p = Product(tenant_id=tenant.id, sku=f"P{i}", stock=10)
            session.add(p)
            session.flush()
            store.add_product(f"r{i}", f"P{i}", None, stock=10 if i % 2 == 0 else 3)  # r1, r3 drifted
            session.add(ProductLink(connection_id=conn.id, product_id=p.id, remote_id=f"r{i}", last_pushed_stock=10))
    store.page_size = 3
    stats = full_stock_check(kade, conn.id)
    assert (stats.seen, stats.drifted, stats.pages) == (4, 2, 2)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        runtime.drain()
    finally:
        runtime.stop()
    assert store.stock_calls == [[("r1", 10), ("r3", 10)]]
    assert {rid: p["stock"] for rid, p in store.products.items()} == {f"r{i}": 10 for i in range(4)}


def test_a_failed_nightly_check_is_tried_again_the_same_night_then_reported(kade, store) -> None:
    from kade.models import Event
    from kade.stockcheck import CHECK_RETRIES, nightly_check

    conn = make_connection(kade)
    store.add_product("r1", "P1", None, stock=3)
    store.fail_next("read_stock", *["transient"] * (len(CHECK_RETRIES) + 1))
    delays = [nightly_check(kade, conn.id, attempt) for attempt in range(1, len(CHECK_RETRIES) + 2)]
    assert delays == [*CHECK_RETRIES, None]
    with kade.db.session() as session:
        outcomes = [e.outcome for e in session.exec(select(Event).where(Event.kind == "stock_check")
                                                    .order_by(col(Event.id))).all()]
        notes = session.exec(select(Notification).where(Notification.kind == "stock_check_failed")).all()
    assert outcomes == ["retry"] * len(CHECK_RETRIES) + ["failed"]
    assert len(notes) == 1 and "503" in notes[0].message
    assert nightly_check(kade, conn.id, 2) is None  # the store answers again: checked, nothing to retry


def test_a_nightly_check_the_store_refuses_the_login_for_needs_reauth(kade, store) -> None:
    from kade.stockcheck import nightly_check

    conn = make_connection(kade)
    store.fail_next("read_stock", "auth")
    assert nightly_check(kade, conn.id) is None  # no retry: the login must be renewed first
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).status == ConnectionStatus.NEEDS_REAUTH


def test_a_nightly_check_waits_at_least_as_long_as_the_store_asks(kade, store, monkeypatch) -> None:
    import kade.stockcheck as stockcheck
    from kade.errors import RateLimited

    conn = make_connection(kade)

    def limited(*_args: object) -> None:
        raise RateLimited(retry_after=7200.0)

    monkeypatch.setattr(stockcheck, "full_stock_check", limited)
    assert stockcheck.nightly_check(kade, conn.id, 1) == 7200.0  # not the 600 s of the first retry


def test_the_stock_check_actor_sends_its_retry_with_the_delay(kade, store) -> None:
    from kade.stockcheck import CHECK_RETRIES

    conn = make_connection(kade)
    store.fail_next("read_stock", "transient")
    runtime = Runtime(kade)
    sent: list[dict] = []
    runtime.actors.stock_check.send_with_options = (  # type: ignore[method-assign]
        lambda *, kwargs, delay=None: sent.append({**kwargs, "delay": delay}))
    runtime.actors.stock_check.fn(connection_id=conn.id)
    assert sent == [{"connection_id": conn.id, "attempt": 2, "delay": int(CHECK_RETRIES[0] * 1000)}]


def test_daily_credentials_check_warns_before_expiry_and_catches_revoked_logins(kade, store) -> None:
    from kade.credentials_check import check_credentials
    from kade.models import utcnow

    conn = make_connection(kade)
    store.credentials_expire_at = utcnow() + timedelta(days=200)
    assert check_credentials(kade, conn.id) == "ok"
    store.credentials_expire_at = utcnow() + timedelta(days=10)
    assert check_credentials(kade, conn.id) == "expiring"
    assert check_credentials(kade, conn.id) == "expiring"  # one notification, bumped
    with kade.db.session() as session:
        notes = session.exec(select(Notification)).all()
        assert [(n.kind, n.count) for n in notes] == [("credentials_expiring", 2)]
        assert session.get(Connection, conn.id).credentials_expire_at is not None
    store.valid_tokens.clear()  # the shop revoked our key
    assert check_credentials(kade, conn.id) == "needs_reauth"
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).status == ConnectionStatus.NEEDS_REAUTH
