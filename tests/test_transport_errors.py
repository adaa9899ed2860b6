"""A raw httpx error a plugin lets through is typed once, at the platform facade, for every path."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import select

from kade import ingest
from kade.errors import OutcomeUnknown, TransientError
from kade.executor import run_action
from kade.ingest import import_orders
from kade.models import Action, ActionStatus, ConnectionRuntime, Order
from kade.shipments import create_shipment
from kade.types import OrderQuery, ShipmentRequest
from tests.support.factories import make_connection


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The import's backoff pauses, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(ingest.loop, "time", SimpleNamespace(sleep=waited.append, monotonic=time.monotonic))
    return waited


def test_the_facade_types_raw_errors_by_what_the_operation_does(kade, store) -> None:
    conn = make_connection(kade)
    platform = kade.pm.platform("fake")
    ctx = kade.context(kade.load_connection(conn.id))
    store.fail_next("import_orders", "raw_timeout")
    with pytest.raises(TransientError) as read:
        platform.import_orders(ctx, OrderQuery())
    assert not isinstance(read.value, OutcomeUnknown)  # a lost read is simply asked again
    assert isinstance(read.value.__cause__, httpx.ReadTimeout)
    store.add_order("S1", [("A", None, 1)])
    store.fail_next("report_shipment", "raw_timeout")
    shipment = ShipmentRequest(shipment_id=1, order_remote_id="S1", order_number="1", lines=(), carrier="PostNL",
                               idempotency_key="k1")
    with pytest.raises(OutcomeUnknown):  # a lost write may have been applied
        platform.report_shipment(ctx, shipment)


def test_an_unmapped_timeout_while_polling_is_retried(kade, store, pauses) -> None:
    store.add_order("S1", [("A", None, 1)])
    conn = make_connection(kade)
    store.fail_next("import_orders", "raw_timeout")
    stats = import_orders(kade, conn.id)
    assert stats.created == 1
    assert store.calls["import_orders"] == 2 and len(pauses) == 1
    with kade.db.session() as session:
        assert session.get(ConnectionRuntime, conn.id).import_failures == 0


def test_an_unmapped_timeout_that_persists_is_recorded(kade, store, pauses) -> None:
    store.add_order("S1", [("A", None, 1)])
    conn = make_connection(kade)
    store.fail_next("import_orders", *["raw_timeout"] * ingest.PAGE_RETRIES)
    with pytest.raises(TransientError):
        import_orders(kade, conn.id)
    with kade.db.session() as session:
        row = session.get(ConnectionRuntime, conn.id)
        assert row.import_failures == 1
        assert "no answer" in (row.import_error or "")
    assert import_orders(kade, conn.id).created == 1  # the next poll resumes


def test_an_unmapped_timeout_after_a_shipment_is_checked_not_duplicated(kade, store) -> None:
    store.add_order("S1", [("A", None, 2)])
    conn = make_connection(kade)
    import_orders(kade, conn.id)
    store.fail_next("report_shipment", "raw_unknown")  # applied, then httpx's own ReadTimeout
    with kade.db.transaction() as session:
        order = session.exec(select(Order).where(Order.remote_id == "S1")).one()
        create_shipment(session, order, carrier="PostNL", tracking_code="3S")
    with kade.db.session() as session:
        action_id = session.exec(select(Action)).one().id
    assert run_action(kade, action_id).status == "retry"
    with kade.db.transaction() as session:
        row = session.get(Action, action_id)
        row.next_attempt_at = row.created_at - timedelta(seconds=1)
        session.add(row)
    run_action(kade, action_id)
    with kade.db.session() as session:
        assert session.get(Action, action_id).status == ActionStatus.DONE
    assert len(store.shipments) == 1
