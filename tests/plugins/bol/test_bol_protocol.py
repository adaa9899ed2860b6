"""Error mapping, rate limits, media types and faults: the simulator is strict and the plugin
turns every failure into the right typed error."""

from __future__ import annotations

import httpx
import pluggy
import pytest
from bol_testkit import RETAILER, START, Bol, BolFactory

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.hookspecs import PROJECT
from kade.plugins.bol import plugin
from kade.plugins.bol.client import BolClient
from kade.plugins.bol.protocol import CSV_TYPE, JSON_TYPE
from kade.plugins.bol.simulator import create_app
from kade.plugins.bol.transporters import TRANSPORTER_CODES, UnknownCarrierError, transporter_code
from kade.sim.base import Faults, SimClock
from kade.types import CancelRequest, OrderQuery, ShipmentRequest, ShipmentRequestLine


def bearer(bol: Bol) -> dict[str, str]:
    status, body = bol.sim.grant("client_credentials", *RETAILER, {})
    assert status == 200
    return {"Authorization": f"Bearer {body['access_token']}"}


def test_rate_limit_gives_retry_after_from_the_header(bol: Bol) -> None:
    ctx = bol.ctx()
    for _ in range(25):  # GET /retailer/orders: 25 a minute
        plugin.import_orders(ctx, OrderQuery())
    bol.clock.advance(10)
    with pytest.raises(RateLimited) as caught:
        plugin.import_orders(ctx, OrderQuery())
    assert caught.value.retry_after == 50
    assert caught.value.status_code == 429


def test_short_rate_limits_are_waited_out_inside_the_call(bol: Bol, waits: list[float]) -> None:
    bol.sim.generate(60)  # 50 order details on page one: more than 25 per second
    page = plugin.import_orders(bol.ctx(), OrderQuery())
    assert len(page.orders) + len(page.rejected) == 50
    assert waits and max(waits) <= 1
    assert bol.sim.limiter.rejected >= 1


def test_rate_limit_headers(bol_factory: BolFactory) -> None:
    # A frozen clock: the 60-second window cannot shrink by the time the requests take.
    bol = bol_factory(clock=SimClock(start=START, frozen=True), process_delay=0.0)
    response = bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, **bearer(bol)})
    assert response.headers["X-RateLimit-Limit"] == "25"
    assert response.headers["X-RateLimit-Remaining"] == "24"
    assert "X-RateLimit-Reset" in response.headers
    for _ in range(24):
        bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, **bearer(bol)})
    response = bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, **bearer(bol)})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert response.json()["detail"] == "Too many requests, retry in 60 seconds."
    bol.clock.advance(59.5)
    assert bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, **bearer(bol)}).headers["Retry-After"] == "1"
    bol.clock.advance(0.5)
    assert bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, **bearer(bol)}).status_code == 200


def test_server_errors_are_transient(bol: Bol) -> None:
    bol.sim.inject("error", "/retailer/orders", status=500)
    with pytest.raises(TransientError) as caught:
        plugin.import_orders(bol.ctx(), OrderQuery())
    assert not isinstance(caught.value, OutcomeUnknown)
    assert caught.value.status_code == 500
    plugin.import_orders(bol.ctx(), OrderQuery())  # it passes


def test_read_timeout_on_a_get_is_transient(bol: Bol) -> None:
    bol.sim.inject("timeout", "/retailer/orders")
    with pytest.raises(TransientError) as caught:
        plugin.import_orders(bol.ctx(), OrderQuery())
    assert not isinstance(caught.value, OutcomeUnknown)


def test_gateway_timeout_on_a_write_is_unknown_outcome(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    order = bol.sim.add_order([(offer, 1)])
    bol.sim.inject("error", "/retailer/orders/cancellation", status=504)
    with pytest.raises(OutcomeUnknown):
        plugin.cancel_order(bol.ctx(), CancelRequest(order_remote_id=order.order_id, order_number="1"))


def test_problem_body_becomes_rejected_by_store_with_the_reason(bol: Bol) -> None:
    client = BolClient(bol.ctx())
    with pytest.raises(RejectedByStore) as caught:
        client.get_json("/retailer/orders", {"status": "BOGUS"})
    assert caught.value.status_code == 400
    assert caught.value.code == "bad_request"
    assert "status: Request contains invalid value(s): 'BOGUS', allowed values: OPEN, SHIPPED, ALL." in (
        caught.value.message
    )


def test_not_found(bol: Bol) -> None:
    with pytest.raises(NotFound, match="Order 42 not found"):
        BolClient(bol.ctx()).get_json("/retailer/orders/42")


def test_401_twice_is_auth_rejected(bol: Bol) -> None:
    bol.sim.inject("error", "/retailer/orders", status=401, count=2)
    with pytest.raises(AuthRejected):
        plugin.import_orders(bol.ctx(), OrderQuery())


def test_media_types_are_enforced(bol: Bol) -> None:
    auth = bearer(bol)
    assert bol.http.get("/retailer/orders", headers={"Accept": "application/json", **auth}).status_code == 406
    assert bol.http.get("/retailer/orders", headers=auth).status_code == 406
    response = bol.http.put(
        "/retailer/offers/x/stock",
        json={"amount": 1, "managedByRetailer": True},
        headers={"Accept": JSON_TYPE, **auth},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == JSON_TYPE
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "violations"}
    assert body["type"] == "https://api.bol.com/problems"
    assert bol.http.get("/retailer/offers/export/r", headers={"Accept": JSON_TYPE, **auth}).status_code == 406
    assert bol.http.get("/retailer/offers/export/r", headers={"Accept": CSV_TYPE, **auth}).status_code == 404


def test_missing_or_bad_token_is_401(bol: Bol) -> None:
    assert bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE}).status_code == 401
    response = bol.http.get("/retailer/orders", headers={"Accept": JSON_TYPE, "Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_process_status_moves_on_the_clock_and_expires(bol_factory: BolFactory) -> None:
    bol = bol_factory(process_delay=2.0)
    offer = bol.sim.add_offer()
    auth = {"Accept": JSON_TYPE, **bearer(bol)}
    created = bol.http.put(
        f"/retailer/offers/{offer.offer_id}/stock",
        json={"amount": 7, "managedByRetailer": True},
        headers={**auth, "Content-Type": JSON_TYPE},
    )
    assert created.status_code == 202
    process = created.json()
    assert process["status"] == "PENDING" and process["eventType"] == "UPDATE_OFFER_STOCK"
    assert process["links"][0]["href"].endswith(f"/shared/process-status/{process['processStatusId']}")
    url = f"/shared/process-status/{process['processStatusId']}"
    assert bol.http.get(url, headers=auth).json()["status"] == "PENDING"
    bol.clock.advance(2)
    done = bol.http.get(url, headers=auth).json()
    assert done["status"] == "SUCCESS" and done["entityId"] == offer.offer_id
    assert offer.stock == 7
    bol.clock.advance(49 * 3600)
    assert bol.http.get(url, headers=auth).status_code == 401  # the token died long ago
    assert bol.http.get(url, headers={"Accept": JSON_TYPE, **bearer(bol)}).status_code == 404


def test_random_faults_are_seeded(bol_factory: BolFactory) -> None:
    bol = bol_factory(faults=Faults(error_rate=0.5, seed=7, paths=("/retailer/orders",)))
    outcomes = []
    for _ in range(20):
        try:
            BolClient(bol.ctx()).get_json("/retailer/orders")
            outcomes.append(True)
        except TransientError:
            outcomes.append(False)
    assert True in outcomes and False in outcomes


def test_create_app_defaults_serve_the_demo_account() -> None:
    app = create_app(orders=25, seed=3)
    state = app.state.sim
    assert len(state.orders) == 25
    assert state.retailer_clients and state.intermediary_clients
    again = create_app(orders=25, seed=3).state.sim
    assert [o.order_id for o in again.orders.values()] == [o.order_id for o in state.orders.values()]
    assert [len(o.items) for o in again.orders.values()] == [len(o.items) for o in state.orders.values()]


def test_generated_orders_mix(bol: Bol) -> None:
    orders = bol.sim.generate(200)
    kinds = {frozenset(i.fulfilment for i in o.items) for o in orders}
    assert kinds == {frozenset({"FBR"}), frozenset({"FBB"}), frozenset({"FBR", "FBB"})}
    assert any(i.cancellation_request for o in orders for i in o.items)


def test_transporter_codes() -> None:
    assert transporter_code("PostNL") == "TNT"
    assert transporter_code("dhl for you") == "DHLFORYOU"
    assert transporter_code("dpd-be") == "DPD-BE"
    assert transporter_code("TNT_BRIEF") == "TNT_BRIEF"
    with pytest.raises(UnknownCarrierError, match="'Pigeon'"):
        transporter_code("Pigeon")
    assert transporter_code("Pigeon", "other") == "OTHER"
    assert len(TRANSPORTER_CODES) == 30


def test_registration_through_pluggy() -> None:
    from kade import hookspecs

    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    [specs] = pm.hook.kade_register_platforms()
    [spec] = list(specs)
    assert spec.name == "bol"
    assert spec.default_auth_method == "authorization_code"
    assert set(spec.auth_methods) == {"authorization_code", "client_credentials"}
    caps = spec.capabilities
    assert (caps.partial_shipments, caps.tracking, caps.stock_batch_size, caps.stock_read, caps.webhooks) == (
        True,
        "every",
        1,
        True,
        False,
    )
    assert spec.setting("login_url") is not None and spec.setting("login_url").default == "https://login.bol.com"
    assert spec.simulator is None and spec.harness is None  # found through kade.harnesses instead


def test_served_over_a_real_socket() -> None:
    from kade.sim.server import BackgroundServer
    from kade.tokens import MemoryTokenStore
    from kade.types import ConnectionContext

    app = create_app(orders=3)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=5) as http:
        ctx = ConnectionContext(
            connection_id=9,
            tenant_id=1,
            platform="bol",
            name="served",
            auth_method="client_credentials",
            base_url=server.url,
            credentials={"client_id": "demo-retailer", "client_secret": "demo-retailer-secret"},
            http=http,
            tokens=MemoryTokenStore(),
            save_credentials=lambda c: None,
            settings={"login_url": server.url},
        )
        assert plugin.check_connection(ctx).ok
        page = plugin.import_orders(ctx, OrderQuery())
        assert len(page.orders) == len([o for o in app.state.sim.orders.values()])


class _Refuses(httpx.BaseTransport):
    """Raises before sending, like the core's shared rate limiter when its wait runs out."""

    def __init__(self, inner: httpx.BaseTransport, path: str) -> None:
        self.inner = inner
        self.path = path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == self.path:
            raise httpx.TimeoutException("rate limit wait exceeded", request=request)
        return self.inner.handle_request(request)


def test_a_write_that_never_left_is_transient_not_unknown(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    order = bol.sim.add_order([(offer, 1)])
    refusing = httpx.Client(
        transport=_Refuses(bol.http._transport, "/retailer/shipments"), base_url="https://api.bol.com"
    )
    bol.http = refusing
    shipment = ShipmentRequest(
        shipment_id=1,
        order_remote_id=order.order_id,
        order_number="1",
        lines=(ShipmentRequestLine(remote_line_id=order.items[0].order_item_id, quantity=1),),
        carrier="UPS",
        idempotency_key="k",
    )
    with pytest.raises(TransientError) as caught:
        plugin.report_shipment(bol.ctx(), shipment)
    assert not isinstance(caught.value, OutcomeUnknown)


def test_bols_error_map() -> None:
    """bol on kade.httpkit: problem bodies, 504-only ambiguity on writes, both wait headers."""
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from kade.plugins.bol.client import ERRORS

    def answer(status: int, method: str = "PUT", **kwargs: object) -> httpx.Response:
        return httpx.Response(status, request=httpx.Request(method, "https://api.bol.com/retailer/x"), **kwargs)

    assert type(ERRORS.error_for(answer(504))) is OutcomeUnknown
    assert type(ERRORS.error_for(answer(502))) is TransientError
    assert type(ERRORS.error_for(answer(504, "GET"))) is TransientError
    reset = ERRORS.error_for(answer(429, "GET", headers={"X-RateLimit-Reset": "12"}))
    assert isinstance(reset, RateLimited) and reset.retry_after == 12.0
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    dated = ERRORS.error_for(answer(429, "GET", headers={"Retry-After": when, "X-RateLimit-Reset": "5"}))
    assert isinstance(dated, RateLimited) and 20 <= dated.retry_after <= 31
    problem = {"title": "Bad Request", "detail": "Invalid request", "violations": [{"name": "ean", "reason": "bad"}]}
    refused = ERRORS.error_for(answer(400, json=problem))
    assert isinstance(refused, RejectedByStore) and refused.code == "bad_request"
    assert refused.message == "Bad Request: Invalid request: ean: bad"
    assert isinstance(ERRORS.error_for(answer(401, json={"title": "Expired JWT"})), AuthRejected)
