"""kade.sim's fault layer: each kind does what it says, scripted before random, and every simulator uses it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kade.sim.base import Faults, ScriptedFault, ScriptedFaults
from kade.sim.faults import FAULT_SCOPE_KEY, Answer, FaultLayer, retry_after_text
from kade.sim.transport import SyncASGITransport


class Store:
    """A tiny ASGI store counting the writes it applied."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.scripted_faults = ScriptedFaults()
        self.applied: list[str] = []
        self.seen_fault: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen_fault.append(scope.get(FAULT_SCOPE_KEY))
        if scope["method"] == "POST":
            self.applied.append(body.decode())
        payload = json.dumps({"ok": True, "body": body.decode()}).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


def _error(status: int) -> Answer:
    return Answer(status, json.dumps({"error": "boom", "status": status}).encode())


def _limited(seconds: float) -> Answer:
    return Answer(429, b'{"error": "slow down"}', headers={"Retry-After": retry_after_text(seconds)})


def _ops(body: bytes) -> frozenset[str]:
    return frozenset(json.loads(body).get("ops", [])) if body else frozenset()


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def client(store: Store) -> Any:
    transport = SyncASGITransport(FaultLayer(store, store, error=_error, rate_limited=_limited, operations=_ops))
    with httpx.Client(transport=transport, base_url="http://store.test") as http:
        yield http
    transport.close()


def test_no_fault_passes_through(store: Store, client: httpx.Client) -> None:
    assert client.post("/orders", content=b"a").json() == {"ok": True, "body": "a"}
    assert store.applied == ["a"]


def test_error_answers_the_platforms_body_with_the_status_and_applies_nothing(store: Store,
                                                                               client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("error", "/orders", status=502))
    answer = client.post("/orders", content=b"a")
    assert answer.status_code == 502 and answer.json() == {"error": "boom", "status": 502}
    assert store.applied == []
    assert client.post("/orders", content=b"b").status_code == 200  # used up
    assert [f.kind for f in store.scripted_faults.fired] == ["error"]


def test_rate_limit_answers_429_with_retry_after(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("rate_limit", retry_after=0.25))
    answer = client.get("/orders")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "0.25"
    store.scripted_faults.add(ScriptedFault("rate_limit", retry_after=2))
    assert client.get("/orders").headers["Retry-After"] == "2"


def test_timeout_loses_the_request_before_it_is_applied(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("timeout", "/orders", method="POST"))
    with pytest.raises(httpx.ReadTimeout, match="not applied"):
        client.post("/orders", content=b"a")
    assert store.applied == []


def test_timeout_after_apply_applies_then_drops_the_answer(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("timeout_after_apply", "/orders", method="POST", count=2))
    for body in (b"a", b"b"):
        with pytest.raises(httpx.ReadTimeout, match="applied"):
            client.post("/orders", content=body)
    assert store.applied == ["a", "b"]
    assert store.scripted_faults == []


def test_slow_answers_after_the_wait(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("slow", seconds=0.01))
    assert client.get("/x").status_code == 200
    assert [f.kind for f in store.scripted_faults.fired] == ["slow"]


def test_method_and_path_select_the_request(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("error", r"/orders/\d+/notes$", method="POST"))
    assert client.get("/orders/1/notes").status_code == 200
    assert client.post("/orders/1/notes/x").status_code == 200
    assert client.post("/orders/1/notes").status_code == 503


def test_operation_faults_read_the_body_and_leave_it_for_the_app(store: Store, client: httpx.Client) -> None:
    store.scripted_faults.add(ScriptedFault("timeout_after_apply", operation="create"))
    assert client.post("/api", content=json.dumps({"ops": ["read"]})).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        client.post("/api", content=json.dumps({"ops": ["create"]}))
    assert json.loads(store.applied[-1]) == {"ops": ["create"]}  # the app still got the whole body
    store.scripted_faults.add(ScriptedFault("error", operation="*"))
    assert client.post("/api", content=b"").status_code == 200  # no operation: "*" does not apply
    assert client.post("/api", content=json.dumps({"ops": ["any"]})).status_code == 503


def test_other_kinds_are_handed_to_the_app(store: Store, client: httpx.Client) -> None:
    fault = store.scripted_faults.add(ScriptedFault("throttle"))
    assert client.get("/x").status_code == 200
    assert store.seen_fault == [fault]


@pytest.mark.parametrize(("rates", "outcome"), [
    ({"error_rate": 1.0}, 503),
    ({"timeout_rate": 1.0}, "lost"),
    ({"timeout_after_apply_rate": 1.0}, "applied-lost"),
    ({"slow_rate": 1.0, "slow_seconds": 0.0}, 200),
])
def test_random_faults_follow_the_plan(store: Store, client: httpx.Client, rates: dict[str, float],
                                       outcome: object) -> None:
    store.faults = Faults(**rates)  # type: ignore[arg-type]
    try:
        status: object = client.post("/orders", content=b"a").status_code
    except httpx.ReadTimeout:
        status = "applied-lost" if store.applied else "lost"
    assert status == outcome
    store.faults = Faults(error_rate=1.0, paths=("/elsewhere",))
    assert client.post("/orders", content=b"b").status_code == 200


def test_scripted_faults_come_before_random_ones(store: Store, client: httpx.Client) -> None:
    store.faults = Faults(error_rate=1.0)
    store.scripted_faults.add(ScriptedFault("rate_limit"))
    assert client.get("/x").status_code == 429
    assert client.get("/x").status_code == 503


# -- every simulator answers faults in its own platform's format through the one layer -----------


def _bol() -> tuple[Any, Any, str, str]:
    from kade.plugins.bol.simulator import create_app

    app = create_app()
    return app, app.state.sim, "https://api.bol.com", "/retailer/orders"


def _woo() -> tuple[Any, Any, str, str]:
    from kade.plugins.woocommerce.simulator import create_app

    app = create_app()
    return app, app.state.sim, "https://shop.example", "/wp-json/wc/v3/orders"


def _shopify() -> tuple[Any, Any, str, str]:
    from kade.plugins.shopify.queries import GRAPHQL_PATH
    from kade.plugins.shopify.simulator import create_app

    app = create_app()
    return app, app.state.sim, "https://shop.myshopify.com", GRAPHQL_PATH


def _magento() -> tuple[Any, Any, str, str]:
    from kade.plugins.magento.simulator import create_app

    app = create_app()
    return app, app.state.sim, "https://shop.magento.test", "/rest/default/V1/orders"


def _lightspeed() -> tuple[Any, Any, str, str]:
    from kade.plugins.lightspeed.simulator import create_app

    app = create_app()
    return app, app.sim, "https://api.webshopapp.com", "/nl/orders.json"


def _shopware() -> tuple[Any, Any, str, str]:
    from kade.plugins.shopware.simulator import create_app

    app = create_app()
    return app, app.sim, "https://shop.example", "/api/search/order"


@pytest.mark.parametrize("make", [_bol, _woo, _shopify, _magento, _lightspeed, _shopware],
                         ids=["bol", "woocommerce", "shopify", "magento", "lightspeed", "shopware"])
def test_every_simulator_runs_behind_the_fault_layer(make: Any) -> None:
    app, sim, base_url, path = make()
    assert isinstance(app, FaultLayer) or isinstance(getattr(app, "_faults", None), FaultLayer)
    transport = SyncASGITransport(app)
    try:
        with httpx.Client(transport=transport, base_url=base_url) as http:
            sim.scripted_faults.add(ScriptedFault("rate_limit", path, retry_after=3))
            limited = http.post(path, content=b"{}")
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
            assert limited.content  # the platform's own body, never empty
            sim.scripted_faults.add(ScriptedFault("error", path, status=503))
            assert http.post(path, content=b"{}").status_code == 503
            sim.faults = Faults(timeout_rate=1.0)
            with pytest.raises(httpx.ReadTimeout):
                http.post(path, content=b"{}")
    finally:
        transport.close()
