"""Authentication as WC_REST_Authentication does it, and the error mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.client import OAuth1, raise_for_status, sign, signature_base_string
from kade.plugins.woocommerce.simulator import WooState, create_app
from kade.sim.base import Faults, RateLimit, SimClock
from kade.sim.transport import SyncASGITransport
from kade.types import CancelRequest, OrderQuery

HTTP = "http://shop.example"
START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
ORDERS = "/wp-json/wc/v3/orders"


def test_signature_base_string_and_signature_match_the_spec() -> None:
    params = {
        "per_page": "100",
        "modified_after": "2025-06-01T00:00:00",
        "oauth_consumer_key": "ck_test",
        "oauth_nonce": "abc",
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": "1748736000",
    }
    base = signature_base_string("get", "http://shop.example/wp-json/wc/v3/orders", params)
    assert base == (
        "GET&http%3A%2F%2Fshop.example%2Fwp-json%2Fwc%2Fv3%2Forders&"
        "modified_after%3D2025-06-01T00%253A00%253A00%26oauth_consumer_key%3Dck_test%26oauth_nonce%3Dabc"
        "%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1748736000%26per_page%3D100"
    )
    expected = base64.b64encode(hmac.new(b"cs_test&", base.encode(), hashlib.sha256).digest()).decode()
    assert sign("GET", "http://shop.example/wp-json/wc/v3/orders", params, "cs_test", "HMAC-SHA256") == expected
    sha1 = base64.b64encode(hmac.new(b"cs_test&", base.encode(), hashlib.sha1).digest()).decode()
    assert sign("GET", "http://shop.example/wp-json/wc/v3/orders", params, "cs_test", "HMAC-SHA1") == sha1


def test_basic_over_plain_http_is_refused(sim: WooState, http_factory, key, ctx_factory) -> None:
    http = http_factory(HTTP)
    response = http.get(ORDERS, auth=(key.consumer_key, key.consumer_secret))
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": "Sorry, you cannot list resources.",
        "data": {"status": 401},
    }
    sim.requests.clear()
    ctx = ctx_factory(base_url=HTTP, auth_method="basic")
    with pytest.raises(AuthRejected, match="only over HTTPS"):
        plugin.check_connection(ctx)
    assert sim.requests == [], "the secret never travels in the clear"


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA1"])
def test_oauth1_over_http_works(sim: WooState, ctx_factory, method: str) -> None:
    sim.generate_orders(3)
    ctx = ctx_factory(base_url=HTTP, auth_method="oauth1", settings={"oauth_signature_method": method})
    page = plugin.import_orders(ctx, OrderQuery())
    assert page is not None and len(page.orders) == 3
    assert {kind for *_, kind in sim.requests} == {"oauth1"}


def test_wc_auth_keys_sign_on_http_and_use_basic_on_https(sim: WooState, ctx_factory) -> None:
    plugin.check_connection(ctx_factory(base_url=HTTP, auth_method="wc_auth"))
    plugin.check_connection(ctx_factory(auth_method="wc_auth"))
    assert [kind for *_, kind in sim.requests] == ["oauth1", "basic"]


def test_bad_signature_is_rejected(sim: WooState, ctx_factory, key) -> None:
    ctx = ctx_factory(
        base_url=HTTP,
        auth_method="oauth1",
        credentials={"consumer_key": key.consumer_key, "consumer_secret": "cs_wrong"},
    )
    with pytest.raises(AuthRejected) as err:
        plugin.check_connection(ctx)
    assert err.value.code == "woocommerce_rest_authentication_error"
    assert "Invalid signature - provided signature does not match." in err.value.message


def store_time(clock: SimClock) -> datetime:
    return datetime.fromtimestamp(clock.now(), UTC)


def test_replayed_nonce_is_rejected(clock: SimClock, http_factory, key) -> None:
    http = http_factory(HTTP)
    sent: list[httpx.Request] = []
    http.event_hooks["request"].append(sent.append)
    signer = OAuth1(key.consumer_key, key.consumer_secret, now=lambda: store_time(clock))
    assert http.get(ORDERS, auth=signer).status_code == 200
    replay = http.get(str(sent[0].url))
    assert replay.status_code == 401
    assert replay.json()["message"] == "Invalid nonce - nonce has already been used."


def test_timestamp_outside_the_15_minute_window_is_rejected(clock: SimClock, http_factory, key) -> None:
    http = http_factory(HTTP)
    signer = OAuth1(key.consumer_key, key.consumer_secret, now=lambda: store_time(clock))
    assert http.get(ORDERS, auth=signer).status_code == 200
    stale = OAuth1(key.consumer_key, key.consumer_secret, now=lambda: store_time(clock) - timedelta(minutes=16))
    response = http.get(ORDERS, auth=stale)
    assert response.status_code == 401 and response.json()["message"] == "Invalid timestamp."
    clock.advance(20 * 60)  # the store's clock moved on: a signature made for the old time is stale now
    late = OAuth1(key.consumer_key, key.consumer_secret, now=lambda: START)
    assert http.get(ORDERS, auth=late).status_code == 401


def test_missing_oauth_parameters_are_named(http_factory, key) -> None:
    response = http_factory(HTTP).get(ORDERS, params={"oauth_consumer_key": key.consumer_key, "oauth_nonce": "x"})
    assert response.status_code == 401
    assert response.json() == {
        "code": "woocommerce_rest_authentication_missing_parameter",
        "message": "Missing OAuth parameters oauth_timestamp, oauth_signature, oauth_signature_method",
        "data": {"status": 401},
    }


def test_wrong_basic_secret(http: httpx.Client, key) -> None:
    response = http.get(ORDERS, auth=(key.consumer_key, "cs_nope"))
    assert response.status_code == 401
    assert response.json()["message"] == "Consumer secret is invalid."
    assert response.headers["www-authenticate"].startswith('Basic realm="WooCommerce API.')


def test_read_only_key_cannot_write(sim: WooState, ctx_factory) -> None:
    read_only = sim.create_api_key("read")
    order = sim.generate_orders(1)[0]
    ctx = ctx_factory(
        credentials={"consumer_key": read_only.consumer_key, "consumer_secret": read_only.consumer_secret}
    )
    with pytest.raises(AuthRejected, match="does not have write permissions"):
        plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(order.id), order_number=order.number))


def test_query_string_keys_for_hosts_that_strip_authorization(clock: SimClock, make_context) -> None:
    sim = WooState(clock=clock, strips_authorization=True)
    key = sim.create_api_key()
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        with pytest.raises(AuthRejected):
            plugin.check_connection(make_context(http, key, clock=clock))
        result = plugin.check_connection(make_context(http, key, clock=clock, settings={"query_string_auth": True}))
    assert result is not None and result.ok


def test_rate_limit_answers_429_with_retry_after(clock: SimClock, make_context) -> None:
    sim = WooState(clock=clock, rate_limit=RateLimit(limit=2, window=10))
    key = sim.create_api_key()
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        ctx = make_context(http, key, clock=clock)
        plugin.check_connection(ctx)
        clock.advance(3)
        plugin.check_connection(ctx)
        with pytest.raises(RateLimited) as err:
            plugin.check_connection(ctx)
        assert err.value.retry_after == 7
        clock.advance(7)
        assert plugin.check_connection(ctx) is not None


def test_test_connection_reports_a_missing_api(http_factory, key, make_context) -> None:
    http = http_factory()
    ok = plugin.check_connection(make_context(http, key))
    assert ok is not None and ok.ok and "orders" in ok.message
    wrong = plugin.check_connection(make_context(http, key, base_url="https://shop.example/blog"))
    assert wrong is not None and not wrong.ok and "no WooCommerce REST API" in wrong.message


def _answer(status: int, method: str = "GET", body: object = None, **headers: str) -> httpx.Response:
    request = httpx.Request(method, "https://shop.example/wp-json/wc/v3/orders")
    return httpx.Response(status, json=body, headers=headers, request=request)


def test_error_mapping() -> None:
    wp_error = {"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID.", "data": {"status": 404}}
    with pytest.raises(NotFound) as not_found:
        raise_for_status(_answer(404, body=wp_error))
    assert (not_found.value.code, not_found.value.message) == ("woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
    with pytest.raises(RejectedByStore) as rejected:
        raise_for_status(_answer(400, "POST", {"code": "rest_invalid_param", "message": "Invalid parameter(s): x"}))
    assert rejected.value.code == "rest_invalid_param" and rejected.value.status_code == 400
    with pytest.raises(AuthRejected):
        raise_for_status(_answer(403, body={"code": "woocommerce_rest_cannot_view", "message": "no"}))
    with pytest.raises(RateLimited) as limited:
        raise_for_status(_answer(429, **{"Retry-After": "12"}))
    assert limited.value.retry_after == 12
    with pytest.raises(TransientError) as transient:
        raise_for_status(_answer(500, "POST", {"code": "internal_server_error", "message": "critical"}))
    assert not isinstance(transient.value, OutcomeUnknown)
    with pytest.raises(OutcomeUnknown):
        raise_for_status(_answer(504, "POST"))
    with pytest.raises(TransientError) as gateway:
        raise_for_status(_answer(504, "GET"))
    assert not isinstance(gateway.value, OutcomeUnknown)


def test_timeouts_on_reads_are_transient_and_on_writes_unknown(sim: WooState, ctx) -> None:
    order = sim.generate_orders(1)[0]
    sim.faults = Faults(timeout_rate=1.0)
    with pytest.raises(TransientError) as read:
        plugin.import_orders(ctx, OrderQuery())
    assert not isinstance(read.value, OutcomeUnknown)
    sim.faults = Faults(error_rate=1.0)
    with pytest.raises(TransientError, match="500"):
        plugin.import_orders(ctx, OrderQuery())
    sim.faults = Faults(timeout_after_apply_rate=1.0)
    with pytest.raises(TransientError):  # a status change is idempotent: plain retry is safe
        plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(order.id), order_number=order.number))
    assert order.status == "cancelled"


def test_woocommerces_error_map() -> None:
    """WooCommerce on kade.httpkit: WP error bodies, HTML from the host, dated Retry-After, ambiguous writes."""
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from kade.errors import OutcomeUnknown, RateLimited, RejectedByStore, TransientError

    def answer(status: int, method: str = "GET", **kwargs: object) -> httpx.Response:
        return httpx.Response(status, request=httpx.Request(method, "https://shop.example/wp-json/wc/v3/x"), **kwargs)

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with pytest.raises(RateLimited) as limited:
        raise_for_status(answer(429, headers={"Retry-After": when}))
    assert 20 <= limited.value.retry_after <= 31
    with pytest.raises(OutcomeUnknown):
        raise_for_status(answer(502, "POST", text="<html>Bad gateway</html>"))
    with pytest.raises(TransientError) as read:
        raise_for_status(answer(502, text="<html>Bad gateway</html>"))
    assert not isinstance(read.value, OutcomeUnknown) and "Bad gateway" in read.value.message
    with pytest.raises(RejectedByStore) as refused:
        raise_for_status(answer(400, "PUT", json={"code": "woocommerce_rest_invalid_order", "message": "nope"}))
    assert refused.value.code == "woocommerce_rest_invalid_order" and refused.value.message == "nope"
