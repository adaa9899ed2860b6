"""Signed events out to the warehouse: signatures, event ids, order per order, outage, replay."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlmodel import col, select

from kade.executor import run_action
from kade.ingest import import_orders
from kade.models import Action, ActionKind, ActionStatus, Order, WebhookAttempt
from kade.outbound import add_subscription, replay, sign, verify
from kade.runtime import Runtime
from kade.shipments import cancel_in_store
from kade.tenants import get_tenant
from tests.support.factories import make_connection
from tests.support.receiver import receiver

EVENTS = ["orders.created", "orders.changed", "orders.cancelled", "shipments.confirmed", "notifications.created"]


def _subscribe(kade, url: str, events=EVENTS) -> str:
    with kade.db.transaction() as session:
        _, secret = add_subscription(session, kade.vault, get_tenant(session, "acme"), url, events)
    return secret


def _deliveries(kade) -> list[Action]:
    with kade.db.session() as session:
        return list(session.exec(select(Action).where(Action.kind == ActionKind.WEBHOOK)
                                 .order_by(col(Action.id))).all())


def test_signature_is_hmac_over_timestamp_and_body() -> None:
    header = sign("whsec_x", 1700000000, b'{"a":1}')
    assert header == "t=1700000000,v1=" + __import__("hmac").new(
        b"whsec_x", b'1700000000.{"a":1}', "sha256").hexdigest()
    assert verify("whsec_x", header, b'{"a":1}', now=1700000010)
    assert not verify("whsec_x", header, b'{"a":2}', now=1700000010)
    assert not verify("whsec_y", header, b'{"a":1}', now=1700000010)
    assert not verify("whsec_x", header, b'{"a":1}', now=1700009999)  # stale: a replayed capture


def test_orders_are_delivered_signed_with_event_ids(kade, store) -> None:
    conn = make_connection(kade)
    with receiver() as wms:
        secret = _subscribe(kade, wms.url + "/kade")
        for i in range(3):
            store.add_order(f"R{i}", [("SKU1", None, 1)], minute=i)
        import_orders(kade, conn.id)
        runtime = Runtime(kade).start(threads=2, tick=0)
        try:
            runtime.drain(timeout=30)
        finally:
            runtime.stop()
        assert len(wms.requests) == 3
        ids = set()
        for request in wms.requests:
            assert verify(secret, request.headers["kade-signature"], request.body)
            body = json.loads(request.body)
            assert body["type"] == "orders.created" and request.headers["kade-event-id"] == body["id"]
            ids.add(body["id"])
        assert len(ids) == 3
    with kade.db.session() as session:
        assert session.exec(select(sa.func.count()).select_from(WebhookAttempt)).one() == 3


def test_a_wms_down_for_hours_gets_everything_in_order_per_order(kade, store) -> None:
    conn = make_connection(kade)
    with receiver() as wms:
        _subscribe(kade, wms.url)
        store.add_order("R1", [("SKU1", None, 1)])
        store.add_order("R2", [("SKU1", None, 1)])
        import_orders(kade, conn.id)
        store.orders["R1"]["updated"] = store.orders["R1"]["updated"].replace(hour=5)
        store.orders["R1"]["status"] = "shipped_elsewhere"  # any change: an orders.changed event
        import_orders(kade, conn.id)
        with kade.db.transaction() as session:
            order = session.exec(select(Order).where(Order.remote_id == "R1")).one()
            cancel_in_store(session, order)
        wms.status = 503  # the WMS is down
        for action in _deliveries(kade):
            run_action(kade, action.id)
        pending = _deliveries(kade)
        # the first of each order was tried and backs off; the later ones of R1 waited behind it
        assert all(a.status == ActionStatus.PENDING for a in pending)
        with kade.db.session() as session:
            tried = {a.action_id for a in session.exec(select(WebhookAttempt)).all()}
        r1 = [a for a in pending if a.ordering_key == pending[0].ordering_key]
        assert len(r1) == 3 and tried & {a.id for a in r1} == {r1[0].id}
        wms.status = 200  # back, hours later: the oldest retry comes due
        with kade.db.transaction() as session:
            session.execute(sa.update(Action).where(col(Action.id) == r1[0].id)
                            .values(next_attempt_at=sa.func.now()))
        runtime = Runtime(kade).start(threads=4, tick=0)
        try:
            runtime.drain(timeout=30, horizon=1.0)
        finally:
            runtime.stop()
        received = [json.loads(r.body) for r in wms.requests]
        r1_events = [e["type"] for e in received if e["data"]["order"]["id"] == order.id]
        assert r1_events == ["orders.created", "orders.changed", "orders.cancelled"]
        assert len(received) == 4 and len({e["id"] for e in received}) == 4
        assert all(a.status == ActionStatus.DONE for a in _deliveries(kade))


def test_replay_resends_with_the_same_event_id(kade, store) -> None:
    conn = make_connection(kade)
    with receiver() as wms:
        _subscribe(kade, wms.url)
        store.add_order("R1", [("SKU1", None, 1)])
        import_orders(kade, conn.id)
        (delivery,) = _deliveries(kade)
        run_action(kade, delivery.id)
        with kade.db.transaction() as session:
            assert replay(session, get_tenant(session, "acme"), action_ids=[delivery.id]) == 1
        run_action(kade, delivery.id)
        first, second = wms.requests
        assert first.headers["kade-event-id"] == second.headers["kade-event-id"]
        assert second.headers["kade-delivery-attempt"] == "1"


def test_no_subscription_means_no_rows(kade, store) -> None:
    conn = make_connection(kade)
    store.add_order("R1", [("SKU1", None, 1)])
    import_orders(kade, conn.id)
    assert _deliveries(kade) == []
