"""The webhook intake as an attacker and a hostile store see it: URLs, sizes, replays, odd input."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from kade import hookimpl
from kade.api import create_api, read_limited
from kade.config import Settings
from kade.manager import make_plugin_manager
from kade.models import Action, ActionKind, ActionStatus, Connection, Order, WebhookDelivery, utcnow
from kade.runtime import Runtime
from kade.sim.transport import SyncASGITransport
from kade.types import Capabilities, ConnectionContext, WebhookEvent
from tests.conftest import TEST_KEY
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform, FakeStore


class SigningPlatform(FakePlatform):
    """The fake platform, signing a timestamp like Shopware's or Stripe's webhooks do."""

    @hookimpl
    def parse_webhook(self, ctx: ConnectionContext, headers: Any, body: bytes) -> WebhookEvent | None:
        event = FakePlatform.parse_webhook(self, ctx, headers, body)
        stamp = headers.get("x-fake-timestamp")
        if event is None or stamp is None:
            return event
        from datetime import datetime

        return event.model_copy(update={"signed_at": datetime.fromisoformat(stamp)})


def _pm(store: FakeStore, *, name: str = "fake", webhooks: bool = True, cls: type[FakePlatform] = FakePlatform):
    return cls(store, name=name, capabilities=Capabilities(webhooks=webhooks, stock_batch_size=10))


@pytest.fixture
def intake(kade, store):
    kade._pm = make_plugin_manager(load_entrypoints=False, plugins=[
        (_pm(store, cls=SigningPlatform), "fake"), (_pm(store, name="nohooks", webhooks=False), "nohooks")])
    runtime = Runtime(kade).start(threads=1, tick=0)
    transport = SyncASGITransport(create_api(kade, runtime))
    yield kade, runtime, httpx.Client(transport=transport, base_url="http://kade")
    runtime.stop()
    transport.close()


def _post(client, token, payload: Any = None, *, delivery="d-1", body: bytes | None = None,
          headers: dict[str, str] | None = None):
    body = json.dumps(payload).encode() if body is None else body
    signature = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    return client.post(f"/webhooks/{token}", content=body,
                       headers={"X-Fake-Signature": signature, "X-Fake-Delivery": delivery, **(headers or {})})


def test_each_connection_has_an_unguessable_token_and_every_wrong_url_is_answered_alike(intake, store) -> None:
    kade, _, client = intake
    conn = make_connection(kade)
    other = make_connection(kade, name="other")
    nohooks = make_connection(kade, name="bolish", platform="nohooks")
    assert conn.webhook_token and len(conn.webhook_token) >= 32
    assert conn.webhook_token != other.webhook_token
    order = {"topic": "order_created", "id": "R1"}
    store.add_order("R1", [("A", None, 1)])
    assert _post(client, conn.webhook_token, order).json()["status"] == "accepted"
    wrong = [
        _post(client, str(conn.id), order),  # the old sequential URL
        _post(client, "x" * 32, order),  # an unknown token
        _post(client, nohooks.webhook_token, order),  # a platform without webhooks
        _post(client, "9" * 40, order),  # beyond any integer range
        _post(client, "a" * 5000, order),
        client.post("/webhooks/", content=b"{}"),
        client.post("/no/such/path", content=b"{}"),
    ]
    assert {(r.status_code, r.content) for r in wrong} == {(404, b'{"detail":"Not Found"}')}


def test_a_rotated_token_retires_the_old_url(intake, store) -> None:
    from kade.models import Connection
    from kade.webhooks import rotate_webhook_token

    kade, _, client = intake
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        new = rotate_webhook_token(session, row)
    assert new != conn.webhook_token
    assert _post(client, conn.webhook_token, {"topic": "ping"}).status_code == 404
    assert _post(client, new, {"topic": "ping"}).json()["status"] == "ping"


def test_a_body_over_the_limit_is_refused_with_413(kade, store) -> None:
    kade.settings = Settings(**{**kade.settings.model_dump(), "webhook_max_body": 4096}, _env_file=None)
    kade._pm = make_plugin_manager(load_entrypoints=False, plugins=[(_pm(store), "fake")])
    conn = make_connection(kade)
    runtime = Runtime(kade)
    client = httpx.Client(transport=SyncASGITransport(create_api(kade, runtime)), base_url="http://kade")
    big = json.dumps({"topic": "order_created", "id": "R1", "pad": "x" * 10_000}).encode()
    assert _post(client, conn.webhook_token, body=big).status_code == 413
    chunks = (big[i:i + 1000] for i in range(0, len(big), 1000))  # no Content-Length: chunked
    response = client.post(f"/webhooks/{conn.webhook_token}", content=chunks)
    assert response.status_code == 413
    assert _post(client, conn.webhook_token, {"topic": "ping"}).status_code == 200
    with kade.db.session() as session:
        assert session.exec(select(WebhookDelivery)).all() == []


def test_the_limit_stops_reading_the_stream() -> None:
    """A 500 MB body is never read whole: reading stops at the first chunk past the limit."""
    import anyio
    from starlette.requests import Request

    sent = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": sent < 8000}

    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/"}, receive)
    assert anyio.run(read_limited, request, 200_000) is None
    assert sent == 4


def test_a_delivery_survives_a_broker_that_is_down(intake, store, monkeypatch) -> None:
    """Delivery and import request commit together: the store's retry is a duplicate, yet the import runs."""
    kade, runtime, client = intake
    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])

    def broker_down(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(runtime, "dispatch", broker_down)
    monkeypatch.setattr(runtime.broker, "enqueue", broker_down)  # the send as the request commits
    order = {"topic": "order_created", "id": "R1"}
    assert _post(client, conn.webhook_token, order).json()["status"] == "accepted"
    assert _post(client, conn.webhook_token, order).json()["status"] == "duplicate"  # the store retries
    with kade.db.session() as session:
        (action,) = session.exec(select(Action).where(Action.kind == ActionKind.IMPORT_ORDERS)).all()
        assert action.status == ActionStatus.PENDING
    monkeypatch.undo()
    runtime.sweep(lease=0)
    runtime.join()
    with kade.db.session() as session:
        assert [o.remote_id for o in session.exec(select(Order))] == ["R1"]
        assert session.get(Action, action.id).status == ActionStatus.DONE
    assert store.calls["import_orders"] == 1


def test_deliveries_during_a_queued_import_coalesce_into_it(intake, store, monkeypatch) -> None:
    kade, runtime, client = intake
    conn = make_connection(kade)
    monkeypatch.setattr(runtime, "dispatch", lambda ids: 0)
    monkeypatch.setattr(runtime.broker, "enqueue", lambda *args, **kwargs: None)  # nothing runs the import
    for n in range(5):
        _post(client, conn.webhook_token, {"topic": "order_updated", "id": f"R{n}"}, delivery=f"d-{n}")
    with kade.db.session() as session:
        assert len(session.exec(select(Action).where(Action.kind == ActionKind.IMPORT_ORDERS)).all()) == 1


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: {"body": b'{"topic": "order_created", "id": "R1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"},
     "nests 100001 levels"),
    (lambda: {"payload": {"topic": "order_created", "id": "R1"}, "delivery": "d" * 201}, "201 characters"),
])
def test_hostile_input_gets_a_clear_400_never_a_500(intake, make, fragment) -> None:
    kade, _, client = intake
    conn = make_connection(kade)
    response = _post(client, conn.webhook_token, **make())
    assert response.status_code == 400 and fragment in response.json()["detail"]
    with kade.db.session() as session:
        assert session.exec(select(WebhookDelivery)).all() == []


def test_a_replayed_body_with_a_fresh_delivery_id_is_a_duplicate(intake, store) -> None:
    kade, runtime, client = intake
    conn = make_connection(kade)
    store.add_order("R1", [("A", None, 1)])
    order = {"topic": "order_created", "id": "R1"}
    assert _post(client, conn.webhook_token, order, delivery="d-1").json()["status"] == "accepted"
    runtime.join()
    assert _post(client, conn.webhook_token, order, delivery="d-2-forged").json()["status"] == "duplicate"
    runtime.join()
    assert store.calls["import_orders"] == 1
    with kade.db.transaction() as session:  # outside the window the same body is news again
        for row in session.exec(select(WebhookDelivery)):
            row.received_at = utcnow() - timedelta(seconds=kade.settings.webhook_replay_window + 1)
            session.add(row)
    assert _post(client, conn.webhook_token, order, delivery="d-3").json()["status"] == "accepted"


def test_a_signed_timestamp_outside_the_window_is_refused(intake, store) -> None:
    kade, _, client = intake
    conn = make_connection(kade)
    order = {"topic": "order_created", "id": "R1"}
    stale = (utcnow() - timedelta(hours=2)).isoformat()
    response = _post(client, conn.webhook_token, order, headers={"X-Fake-Timestamp": stale})
    assert response.status_code == 401 and "signed timestamp" in response.json()["detail"]
    fresh = utcnow().isoformat()
    assert _post(client, conn.webhook_token, order, headers={"X-Fake-Timestamp": fresh}).status_code == 200


def test_admin_endpoints_need_the_token_or_a_loopback_bind(kade, store) -> None:
    runtime = Runtime(kade)

    def client(app: Any) -> httpx.Client:
        return httpx.Client(transport=SyncASGITransport(app), base_url="http://kade")

    public = client(create_api(kade, runtime, public=True))
    assert public.get("/metrics").status_code == 404
    assert public.get("/health").json() == {"ok": True}  # liveness only
    assert "kade_webhooks_total" in client(create_api(kade, runtime)).get("/metrics").text
    kade.settings = Settings(data_dir=kade.settings.data_dir, secret_key=TEST_KEY, admin_token="adm-token-123456",
                             _env_file=None)
    guarded = client(create_api(kade, runtime, public=True))
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = guarded.get("/metrics", headers={"Authorization": "Bearer adm-token-123456"})
    assert ok.status_code == 200 and "kade_webhooks_total" in ok.text
    assert "connections" in guarded.get("/health", headers={"Authorization": "Bearer adm-token-123456"}).json()


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
                     st.floats(allow_nan=False), st.text(max_size=30),
                     st.text(alphabet=st.sampled_from("\x00\ud800\udfff\u202e€a"), max_size=5))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
_BODIES = st.one_of(
    st.builds(lambda topic, ident, extra: json.dumps({"topic": topic, "id": ident, "x": extra}).encode(),
              st.sampled_from(["order_created", "order_updated", "order_cancelled", "ping", "other", ""]),
              _SCALARS, _JSON),
    _JSON.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
)


@given(body=_BODIES, delivery=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=260))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_delivery_a_store_can_send_gives_a_500(intake, body: bytes, delivery: str) -> None:
    kade, _, client = intake
    with kade.db.session() as session:  # the fixture lives across examples: one connection for all
        conn = session.exec(select(Connection)).first()
    token = conn.webhook_token if conn is not None else make_connection(kade).webhook_token
    response = _post(client, token, body=body, delivery=delivery or "d")
    assert response.status_code in (200, 400, 401), response.text
    if response.status_code == 200:
        assert response.json()["status"] in ("accepted", "duplicate", "ignored", "ping")
