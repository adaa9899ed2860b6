"""Webhook intake: signature verification by the plugin, dedupe and the one ingest path in the core."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest
from sqlmodel import select

from kade.api import create_api
from kade.manager import make_plugin_manager
from kade.models import Order, WebhookDelivery
from kade.runtime import Runtime
from kade.sim.transport import SyncASGITransport
from kade.types import Capabilities
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform


@pytest.fixture
def hooked(kade, store):
    kade._pm = make_plugin_manager(load_entrypoints=False, plugins=[(FakePlatform(
        store, capabilities=Capabilities(webhooks=True, stock_batch_size=10)), "fake")])
    runtime = Runtime(kade).start(threads=1, tick=0)
    transport = SyncASGITransport(create_api(kade, runtime))
    yield kade, runtime, httpx.Client(transport=transport, base_url="http://kade")
    runtime.stop()
    transport.close()


def _send(client, conn, payload, delivery="d-1", secret=b"hook-secret", tamper=False):
    body = json.dumps(payload).encode()
    signature = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if tamper:
        body = body.replace(b"R1", b"R9")
    token = conn if isinstance(conn, str) else conn.webhook_token
    return client.post(f"/webhooks/{token}", content=body,
                       headers={"X-Fake-Signature": signature, "X-Fake-Delivery": delivery})


def test_delivery_imports_the_order_once_and_a_replay_creates_nothing(hooked, store) -> None:
    kade, runtime, client = hooked
    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    first = _send(client, conn, {"topic": "order_created", "id": "R1"})
    assert first.status_code == 200 and first.json()["status"] == "accepted"
    runtime.join()
    replay = _send(client, conn, {"topic": "order_created", "id": "R1"})
    assert replay.json()["status"] == "duplicate"
    runtime.join()
    with kade.db.session() as session:
        assert [o.remote_id for o in session.exec(select(Order))] == ["R1"]
        assert len(session.exec(select(WebhookDelivery)).all()) == 1
    assert store.calls["import_orders"] == 1


@pytest.mark.parametrize(("kwargs", "headers"), [
    ({"tamper": True}, None),
    ({"secret": b"wrong"}, None),
    ({}, {}),
])
def test_tampered_wrongly_signed_and_unsigned_deliveries_are_refused(hooked, store, kwargs, headers) -> None:
    kade, _, client = hooked
    conn = make_connection(kade)
    if headers is not None:
        response = client.post(f"/webhooks/{conn.webhook_token}", content=b'{"topic": "order_created", "id": "R1"}',
                               headers=headers)
    else:
        response = _send(client, conn, {"topic": "order_created", "id": "R1"}, **kwargs)
    assert response.status_code == 401
    with kade.db.session() as session:
        assert session.exec(select(WebhookDelivery)).all() == []


def test_ping_is_acknowledged_without_work(hooked, store) -> None:
    kade, _, client = hooked
    conn = make_connection(kade)
    assert _send(client, conn, {"topic": "ping"}).json()["status"] == "ping"
    assert store.calls.get("import_orders") is None


def test_unknown_connection_and_health_endpoint(hooked) -> None:
    _, _, client = hooked
    assert _send(client, "x" * 32, {"topic": "ping"}).status_code == 404
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["ok"] is True
    assert "kade_webhooks_total" in client.get("/metrics").text
