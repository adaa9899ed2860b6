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
from kade.models import Action, ActionKind, ActionStatus, Connection, ConnectionRuntime, Order, utcnow
from kade.recovery import plan_recovery, run_recovery
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


def test_recovery_sends_orders_first_then_stock_then_shipments(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    conn, _ = _outage(kade, store)
    sent: list[tuple[str, Any]] = []
    shipments = _Recorder("report_shipment", sent)
    actors = SimpleNamespace(import_orders=_Recorder("import_orders", sent), for_kind=lambda kind: shipments,
                             flush_stock=_Recorder("flush_stock", sent))
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    result = run_recovery(kade, actors, plan)  # type: ignore[arg-type]
    assert result.retried == 1
    assert [name for name, _ in sent] == ["import_orders", "flush_stock", "report_shipment"]
    with kade.db.session() as session:
        assert session.get(Connection, conn.id).order_cursor <= since


class _Slow(_Recorder):
    """An actor whose worker runs the job a moment after the send, on a thread of its own, and
    records what the database held when the job was sent."""

    def __init__(self, name: str, sent: list[tuple[str, Any]], job: Any, seen: Any = None) -> None:
        super().__init__(name, sent)
        self.job, self.seen, self.timers = job, seen, []

    def _go(self, kwargs: dict[str, Any]) -> None:
        self.sent.append((self.name, self.seen() if self.seen else None))
        timer = threading.Timer(0.2, self.job, kwargs=kwargs)
        timer.start()
        self.timers.append(timer)

    def send(self, **kwargs: Any) -> None:
        self._go(kwargs)

    def send_with_options(self, *, kwargs: dict[str, Any], delay: int | None = None) -> None:
        self._go(kwargs)


def test_with_settle_each_phase_waits_for_the_one_before(kade, store) -> None:
    """Idle threads serve every queue at once: only the phase gate keeps stock behind the import
    and shipments behind the stock."""
    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    started = utcnow()

    def imported() -> int:
        with kade.db.session() as session:
            return len(session.exec(select(ConnectionRuntime).where(ConnectionRuntime.last_import_at >= started)).all())

    def stock_left() -> int:
        with kade.db.session() as session:
            return len(session.exec(select(Action).where(Action.kind == ActionKind.STOCK,
                                                         Action.status == ActionStatus.PENDING)).all())

    sent: list[tuple[str, Any]] = []
    actors = SimpleNamespace(
        import_orders=_Slow("import_orders", sent, lambda connection_id: import_orders(kade, connection_id)),
        flush_stock=_Slow("flush_stock", sent, lambda connection_id: flush_stock(kade, connection_id), imported),
        for_kind=lambda kind: _Slow("report_shipment", sent, lambda action_id: None, stock_left))
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    try:
        run_recovery(kade, actors, plan, settle=30)  # type: ignore[arg-type]
    finally:
        for timer in actors.import_orders.timers + actors.flush_stock.timers:
            timer.join()
    assert sent == [("import_orders", None), ("flush_stock", 1), ("report_shipment", 0)]


def test_recovery_drains_everything_exactly_once(kade, store) -> None:
    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    runtime = Runtime(kade).start(threads=1, tick=0)
    try:
        with kade.db.session() as session:
            plan = plan_recovery(session, since)
        run_recovery(kade, runtime.actors, plan)
        runtime.drain()
    finally:
        runtime.stop()
    assert len(store.shipments) == 1 and store.shipments[0]["tracking"] == "3SOUT"
    assert store.products["P1"]["stock"] == 7
    with kade.db.session() as session:
        left = session.exec(select(Action).where(Action.status != ActionStatus.DONE)).all()
    assert [(a.kind, a.status) for a in left] == []


def test_each_connection_moves_to_its_stock_when_its_own_import_ends(kade, store) -> None:
    """A slow store's import holds back only its own stock: here the second store's import ends
    only once the first store's stock has gone, which a global phase would wait for in vain."""
    import time

    import sqlalchemy as sa

    from kade.outbox import add_action
    from kade.recovery_drain import drain
    from kade.runstate import import_succeeded

    first, second = make_connection(kade), make_connection(kade, name="second")
    with kade.db.transaction() as session:
        for conn in (first, second):
            add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id, kind=ActionKind.STOCK,
                       key=f"stock:{conn.id}", payload={"link_id": 0})

    def imported(connection_id: int) -> None:
        with kade.db.transaction() as session:
            import_succeeded(session, session.get(Connection, connection_id))

    sent: list[tuple[str, int]] = []

    def import_orders(connection_id: int) -> None:
        sent.append(("import", connection_id))
        if connection_id == first.id:
            imported(first.id)

    def flush_stock(connection_id: int) -> None:
        sent.append(("stock", connection_id))
        with kade.db.transaction() as session:  # pushed
            session.execute(sa.update(Action).where(Action.connection_id == connection_id)
                            .values(status=ActionStatus.DONE))
        if connection_id == first.id:
            imported(second.id)  # the second store answers only now

    actors = SimpleNamespace(import_orders=SimpleNamespace(send=import_orders),
                             flush_stock=SimpleNamespace(send=flush_stock, send_with_options=lambda kwargs, delay=None:
                                                         flush_stock(**kwargs)),
                             for_kind=lambda kind: None)
    begin = time.monotonic()
    drain(kade, actors, [first.id, second.id], settle=30)  # type: ignore[arg-type]
    assert time.monotonic() - begin < 30  # no phase ran into its limit
    assert sent == [("import", first.id), ("import", second.id), ("stock", first.id), ("stock", second.id)]


def test_a_sweep_during_the_run_leaves_its_phases_to_it(kade, store) -> None:
    """The worker process sweeps every tick while ``kade recover`` runs elsewhere: what the run
    will send in phase order must not go out with that sweep, ahead of the import."""
    from kade.runstate import import_succeeded
    from kade.sweeper import sweep

    since = utcnow() - timedelta(hours=3)
    _outage(kade, store)
    swept: list[tuple[str, Any]] = []
    sweeper_actors = SimpleNamespace(flush_stock=_Recorder("flush_stock", swept),
                                     for_kind=lambda kind: _Recorder(str(kind), swept))
    sent: list[tuple[str, Any]] = []

    def import_orders(connection_id: int) -> None:
        sent.append(("import_orders", connection_id))
        sweep(kade, sweeper_actors)  # type: ignore[arg-type]  # a tick in the worker process, mid-import
        with kade.db.transaction() as session:
            import_succeeded(session, session.get(Connection, connection_id))

    def flush(connection_id: int) -> None:
        sent.append(("flush_stock", connection_id))
        flush_stock(kade, connection_id)

    actors = SimpleNamespace(import_orders=SimpleNamespace(send=import_orders),
                             flush_stock=SimpleNamespace(send=flush, send_with_options=lambda kwargs, delay=None:
                                                         flush(**kwargs)),
                             for_kind=lambda kind: _Recorder("report_shipment", sent))
    with kade.db.session() as session:
        plan = plan_recovery(session, since)
    run_recovery(kade, actors, plan, settle=30)  # type: ignore[arg-type]
    assert swept == []
    assert [name for name, _ in sent] == ["import_orders", "flush_stock", "report_shipment"]
