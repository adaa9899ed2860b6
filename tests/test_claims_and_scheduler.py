"""Ownership of action claims, the sweep age rule, scheduler marks kept in the database, and
one notification per refused stock call."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import select

from kade.claims import KeepClaimed, claim, new_claim
from kade.config import Settings
from kade.errors import PlatformError
from kade.executor import run_shipment
from kade.ingest import import_orders
from kade.manager import Platform
from kade.models import Action, ActionKind, ActionStatus, Connection, Notification, Order, utcnow
from kade.runtime import Runtime
from kade.scheduler import Scheduler
from kade.shipments import create_shipment
from kade.stock import set_stock
from kade.stockpush import flush_stock
from kade.sweeper import sweep
from kade.webhooks import request_import, run_import_request
from tests.support.factories import linked_products, make_connection, tenant_of


def _ship(kade, store):
    store.add_order("R1", [("A", None, 1)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    with kade.db.transaction() as session:
        order = session.exec(select(Order)).one()
        create_shipment(session, order, carrier="PostNL", tracking_code="T1")
        action = session.exec(select(Action).where(Action.kind == ActionKind.SHIPMENT)).one()
        return conn, action.id


def test_a_worker_whose_claim_was_swept_during_its_call_writes_nothing(kade, store, monkeypatch) -> None:
    _, action_id = _ship(kade, store)
    rt = Runtime(kade)
    original = Platform.report_shipment

    def slow_call(self, ctx, shipment):
        # While the call runs, the sweeper decides the claim is stale and another worker claims it.
        sweep(kade, rt.actors, lease=0)
        with kade.db.transaction() as session:
            assert claim(session, action_id, owner="second-worker") is not None
        return original(self, ctx, shipment)

    monkeypatch.setattr(Platform, "report_shipment", slow_call)
    outcome = run_shipment(kade, action_id)
    assert outcome.status == "lost"
    with kade.db.session() as session:
        action = session.get(Action, action_id)
    assert (action.status, action.claimed_by) == (ActionStatus.RUNNING, "second-worker")


@pytest.mark.parametrize("fails", [False, True], ids=["import-succeeds", "import-fails"])
def test_a_queued_import_whose_claim_was_swept_during_its_run_writes_nothing(kade, store, monkeypatch,
                                                                           fails: bool) -> None:
    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    with kade.db.transaction() as session:
        action_id = request_import(session, session.get(Connection, conn.id))
    rt = Runtime(kade)
    original = Platform.import_orders

    def slow_import(self, ctx, query):
        # While the store is read, the sweeper takes the claim back and another worker claims it.
        sweep(kade, rt.actors, lease=0)
        with kade.db.transaction() as session:
            assert claim(session, action_id, owner="second-worker") is not None
        if fails:
            raise PlatformError("store unavailable", status_code=503)
        return original(self, ctx, query)

    monkeypatch.setattr(Platform, "import_orders", slow_import)
    assert run_import_request(kade, action_id).status == "lost"
    with kade.db.session() as session:
        action = session.get(Action, action_id)
    assert (action.status, action.claimed_by) == (ActionStatus.RUNNING, "second-worker")


def test_a_queued_import_renews_its_own_claim_while_the_store_is_read(kade, store, monkeypatch) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        action_id = request_import(session, session.get(Connection, conn.id))
    renewing: list[str] = []
    seen: list[tuple[str | None, list[str]]] = []
    real_enter, original = KeepClaimed.__enter__, Platform.import_orders

    def enter(self):
        renewing.append(self.owner)
        return real_enter(self)

    def import_orders(self, ctx, query):
        with kade.db.session() as session:
            seen.append((session.get(Action, action_id).claimed_by, list(renewing)))
        return original(self, ctx, query)

    monkeypatch.setattr(KeepClaimed, "__enter__", enter)
    monkeypatch.setattr(Platform, "import_orders", import_orders)
    assert run_import_request(kade, action_id).status == "done"
    (claimed_by, renewed), *_ = seen
    assert claimed_by is not None and renewed == [claimed_by]


def test_a_long_call_keeps_its_claim_alive(kade, store) -> None:
    kade.settings = Settings(data_dir=kade.settings.data_dir, secret_key=kade.settings.secret_key, sweep_after=0.8,
                             rate_limit_wait=0.3, http_connect_timeout=0.1, http_timeout=0.1, _env_file=None)
    _, action_id = _ship(kade, store)
    owner = new_claim()
    with kade.db.transaction() as session:
        assert claim(session, action_id, owner=owner) is not None
    rt = Runtime(kade)
    with KeepClaimed(kade, owner):
        threading.Event().wait(1.5)  # a call lasting well past the sweep age
        stats = sweep(kade, rt.actors)
    assert stats.reclaimed == 0
    with kade.db.session() as session:
        assert session.get(Action, action_id).claimed_by == owner
    # Without renewals the same wait loses the claim.
    threading.Event().wait(1.0)
    assert sweep(kade, rt.actors).reclaimed == 1


def test_a_renewal_never_revives_a_claim_someone_else_holds(kade, store) -> None:
    _, action_id = _ship(kade, store)
    with kade.db.transaction() as session:
        assert claim(session, action_id, owner="b") is not None
    assert KeepClaimed(kade, "a").renew() == 0
    assert KeepClaimed(kade, "b").renew() == 1


def test_settings_refuse_a_sweep_age_shorter_than_the_longest_call(tmp_path) -> None:
    with pytest.raises(ValidationError, match="longest possible store call"):
        Settings(data_dir=tmp_path, sweep_after=60, _env_file=None)
    Settings(data_dir=tmp_path, sweep_after=100, _env_file=None)


class Recorder:
    """Stands in for the actors: records what the scheduler sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __getattr__(self, name: str):
        recorder = self

        class _Actor:
            def send(self, **kwargs) -> None:
                recorder.sent.append(name)

        return _Actor()

    def count(self, name: str) -> int:
        return self.sent.count(name)


def test_scheduler_marks_survive_a_restart(kade, store) -> None:
    make_connection(kade)
    actors = Recorder()
    now = utcnow()
    assert Scheduler(kade, actors, holder="a").tick(now) is True
    assert (actors.count("import_orders"), actors.count("link_products")) == (1, 1)
    # the process restarts (same holder, new object with no memory): nothing due yet
    assert Scheduler(kade, actors, holder="a").tick(now + timedelta(seconds=5)) is True
    assert (actors.count("import_orders"), actors.count("link_products")) == (1, 1)
    # after the poll interval only the poll is due; products only a day later
    Scheduler(kade, actors, holder="a").tick(now + timedelta(seconds=61))
    assert (actors.count("import_orders"), actors.count("link_products")) == (2, 1)
    Scheduler(kade, actors, holder="a").tick(now + timedelta(days=1, seconds=1))
    assert (actors.count("import_orders"), actors.count("link_products")) == (3, 2)


def test_a_refused_stock_batch_raises_one_notification_per_call(kade, store) -> None:
    conn = make_connection(kade)
    tenant = tenant_of(kade)
    linked_products(kade, conn, 6, prefix="S", stock=0, store=store)
    for i in range(6):
        store.products[f"r{i}"]["reject_stock"] = True
    with kade.db.transaction() as session:
        for i in range(6):
            set_stock(session, tenant, f"S{i}", 5, window=0)
    result = flush_stock(kade, conn.id)
    assert (result.calls, result.rejected) == (1, 6)
    with kade.db.session() as session:
        notes = session.exec(select(Notification).where(Notification.kind == "stock_rejected")).all()
    assert len(notes) == 1 and "6 item(s)" in notes[0].message
