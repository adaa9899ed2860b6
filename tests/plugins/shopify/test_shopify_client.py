"""Auth (tokens, expiry, migration), cost-based throttling and error mapping of the GraphQL client."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from kade.errors import AuthRejected, NotFound, RateLimited, RejectedByStore, TransientError
from kade.plugins.shopify import plugin, queries
from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.client import ShopifyClient
from kade.plugins.shopify.cost import requested_cost
from kade.sim.base import Faults
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import OrderQuery

BASE_URL = "https://shop.myshopify.com"


# ------------------------------------------------------------------------------ tokens


def test_client_credentials_token_is_fetched_once_and_reused(sim, make_ctx, tokens):
    first, second = make_ctx(), make_ctx()  # two connections/workers sharing the token store
    plugin.check_connection(first)
    plugin.read_products(second, None)
    plugin.read_stock(first, None)
    assert len(sim.app_tokens) == 1


def test_concurrent_workers_fetch_one_token(sim, ctx):
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(ShopifyClient(ctx).access_token())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and len(sim.app_tokens) == 1


def test_expired_token_is_refreshed_once(sim, ctx, clock):
    plugin.check_connection(ctx)
    clock.advance(sm.TOKEN_LIFETIME + 60)  # the store still holds the token; Shopify has expired it
    assert plugin.check_connection(ctx).ok
    assert len(sim.app_tokens) == 2


def test_revoked_app_is_auth_rejected_after_one_refresh(sim, ctx, clock):
    plugin.check_connection(ctx)
    sim.apps[sm.DEFAULT_CLIENT_ID] = "rotated-secret"
    clock.advance(sm.TOKEN_LIFETIME + 60)
    with pytest.raises(AuthRejected) as err:
        plugin.check_connection(ctx)
    assert err.value.status_code == 401 and err.value.code == "invalid_client"


def test_bad_admin_token_is_auth_rejected_without_refresh(sim, make_ctx):
    ctx = make_ctx("admin_token", {"access_token": "shpat_revoked"})
    with pytest.raises(AuthRejected) as err:
        plugin.import_orders(ctx, OrderQuery())
    assert err.value.status_code == 401
    assert sim.app_tokens == {}


def test_missing_credentials(make_ctx):
    with pytest.raises(AuthRejected) as err:
        plugin.check_connection(make_ctx("client_credentials", {"client_id": "x"}))
    assert err.value.code == "missing_credentials"


def test_admin_token_connection_works(admin_ctx):
    result = plugin.check_connection(admin_ctx)
    assert result.ok and "shop.myshopify.com" in result.message


def test_connection_test_checks_the_location(sim, make_ctx):
    ok = plugin.check_connection(make_ctx(settings={"location_id": str(sim.primary_location.id)}))
    assert ok.ok and "Warehouse" in ok.message
    missing = plugin.check_connection(make_ctx(settings={"location_id": "99"}))
    assert not missing.ok and "not an active location" in missing.message


# ------------------------------------------------------------------------------ migration


def test_migrate_admin_token_to_client_credentials(sim, admin_ctx):
    result = plugin.migrate_connection(
        admin_ctx, "client_credentials", {"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": sm.DEFAULT_CLIENT_SECRET}
    )
    assert result.auth_method == "client_credentials"
    assert result.credentials == {"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": sm.DEFAULT_CLIENT_SECRET}
    assert len(sim.app_tokens) == 1  # verified with a live grant


def test_migration_with_bad_credentials_is_refused(sim, admin_ctx):
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(
            admin_ctx, "client_credentials", {"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": "wrong"}
        )
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(admin_ctx, "client_credentials", {"client_id": sm.DEFAULT_CLIENT_ID})
    assert plugin.check_connection(admin_ctx).ok  # the old login keeps working


def test_migrate_client_credentials_to_admin_token_keeps_the_webhook_secret(sim, ctx):
    result = plugin.migrate_connection(ctx, "admin_token", {"access_token": sm.DEFAULT_ADMIN_TOKEN})
    assert result.credentials == {"access_token": sm.DEFAULT_ADMIN_TOKEN, "client_secret": sm.DEFAULT_CLIENT_SECRET}
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(ctx, "admin_token", {"access_token": "shpat_nope"})


def test_migration_to_credentials_of_another_shop_is_refused(sim, admin_ctx):
    sim.shop_domain = "someone-else.myshopify.com"
    with pytest.raises(AuthRejected) as err:
        plugin.migrate_connection(
            admin_ctx,
            "client_credentials",
            {"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": sm.DEFAULT_CLIENT_SECRET},
        )
    assert err.value.code == "wrong_shop"


def test_migration_to_an_unknown_method(admin_ctx):
    with pytest.raises(RejectedByStore) as err:
        plugin.migrate_connection(admin_ctx, "oauth1", {})
    assert err.value.code == "unsupported_auth_method"


# ------------------------------------------------------------------------------ throttling


def test_throttled_answer_is_waited_out_then_retried(sim, ctx, sleeps):
    plugin.check_connection(ctx)
    sim.buckets[sm.DEFAULT_CLIENT_ID].available = 0
    assert plugin.check_connection(ctx).ok
    cost = requested_cost(queries.SHOP.document)
    assert sleeps == [pytest.approx(cost / sm.RESTORE_RATE, abs=0.05)]
    assert sim.throttled == 1


def test_client_does_not_send_a_query_that_cannot_fit(sim, make_ctx, sleeps):
    ctx = make_ctx(settings={"max_throttle_wait": 5})
    plugin.check_connection(ctx)
    sim.buckets[sm.DEFAULT_CLIENT_ID].available = 0
    plugin.check_connection(make_ctx(settings={"max_throttle_wait": 30}))  # learns the bucket is empty
    requests = sim.graphql_requests
    cost = requested_cost(queries.ORDERS.document, {"first": 10, "lineItems": queries.ORDER_LINES_PER_PAGE})
    with pytest.raises(RateLimited) as err:
        plugin.import_orders(ctx, OrderQuery())
    status = ShopifyClient(ctx).throttle_status()
    expected = (cost - status.available_at(ctx.now().timestamp())) / sm.RESTORE_RATE
    assert err.value.retry_after == pytest.approx(expected, rel=0.01)
    assert err.value.code == "THROTTLED"
    assert sim.graphql_requests == requests  # nothing was sent
    throttled = sim.throttled
    sleeps.clear()
    plugin.import_orders(make_ctx(settings={"max_throttle_wait": 60}), OrderQuery())
    assert sleeps == [pytest.approx(err.value.retry_after, abs=0.05)]
    assert sim.throttled == throttled  # the wait was exact: Shopify never said THROTTLED


def test_throttled_without_knowledge_raises_with_the_deficit(clock, tokens, make_ctx):
    state = sm.SimState(clock=clock, bucket_size=1000, restore_rate=50)
    transport = SyncASGITransport(sm.create_app(state))
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        ctx = make_ctx("admin_token", client=http, token_store=MemoryTokenStore(), settings={"max_throttle_wait": 0})
        plugin.check_connection(ctx)
        state.buckets["legacy-custom-app"].available = 10
        fresh = make_ctx("admin_token", client=http, token_store=MemoryTokenStore(), settings={"max_throttle_wait": 0})
        with pytest.raises(RateLimited) as err:
            plugin.check_connection(fresh)
    transport.close()
    assert err.value.retry_after == pytest.approx((requested_cost(queries.SHOP.document) - 10) / 50, abs=0.05)
    assert err.value.status_code == 200


# ------------------------------------------------------------------------------ failures


def test_server_errors_and_timeouts_on_reads_are_transient(sim, make_ctx):
    for faults in (Faults(error_rate=1.0), Faults(timeout_rate=1.0), Faults(timeout_after_apply_rate=1.0)):
        transport = SyncASGITransport(sm.create_app(sim, faults=faults))
        with httpx.Client(transport=transport, base_url=BASE_URL) as http:
            ctx = make_ctx("admin_token", client=http)
            with pytest.raises(TransientError) as err:
                plugin.import_orders(ctx, OrderQuery())
        transport.close()
        assert err.value.kind == "transient"


def _mock_ctx(make_ctx, handler):
    return make_ctx("admin_token", client=httpx.Client(transport=httpx.MockTransport(handler), base_url=BASE_URL))


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "check"),
    [
        (429, {"errors": "Too many"}, {"Retry-After": "3"}, RateLimited, lambda e: e.retry_after == 3.0),
        (403, {"errors": "Forbidden"}, {}, AuthRejected, lambda e: e.status_code == 403),
        (404, {"errors": "Not Found"}, {}, NotFound, lambda e: True),
        (402, {"errors": "Unavailable Shop"}, {}, RejectedByStore, lambda e: e.code == "shop_unavailable"),
        (503, "<html>", {}, TransientError, lambda e: e.status_code == 503 and e.kind == "transient"),
        (
            200,
            {"errors": [{"message": "Access denied for orders field.", "extensions": {"code": "ACCESS_DENIED"}}]},
            {},
            AuthRejected,
            lambda e: e.code == "ACCESS_DENIED",
        ),
        (
            200,
            {
                "errors": [
                    {"message": "Field 'x' doesn't exist on type 'Order'", "extensions": {"code": "undefinedField"}}
                ]
            },
            {},
            RejectedByStore,
            lambda e: "doesn't exist" in e.message,
        ),
        (200, "not json", {}, TransientError, lambda e: True),
    ],
)
def test_error_mapping(make_ctx, status, body, headers, error, check):
    def handler(request: httpx.Request) -> httpx.Response:
        content = body if isinstance(body, str) else json.dumps(body)
        return httpx.Response(status, content=content.encode(), headers=headers)

    with pytest.raises(error) as err:
        plugin.import_orders(_mock_ctx(make_ctx, handler), OrderQuery())
    assert check(err.value)


def test_request_carries_the_token_header_and_the_pinned_path(make_ctx):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={
                "data": {
                    "shop": {"name": "x", "myshopifyDomain": "shop.myshopify.com", "currencyCode": "EUR"},
                    "locations": {"nodes": []},
                }
            },
        )

    plugin.check_connection(_mock_ctx(make_ctx, handler))
    (request,) = seen
    assert request.url.path == "/admin/api/2025-01/graphql.json"
    assert request.headers["X-Shopify-Access-Token"] == sm.DEFAULT_ADMIN_TOKEN
    assert json.loads(request.content)["operationName"] == "KadeShop"


def test_http_errors_are_typed_by_the_operation_not_the_post(make_ctx):
    """Every GraphQL call is a POST; only a mutation's lost answer may hide an applied change."""
    from kade.errors import OutcomeUnknown

    def failing(status: int | None):
        def handler(request: httpx.Request) -> httpx.Response:
            if status is None:
                raise httpx.ReadTimeout("slow", request=request)
            return httpx.Response(status, json={"errors": "Internal Server Error"})
        return ShopifyClient(_mock_ctx(make_ctx, handler))

    for status in (500, None):
        with pytest.raises(TransientError) as read:
            failing(status).execute(queries.SHOP)
        assert not isinstance(read.value, OutcomeUnknown)
        with pytest.raises(OutcomeUnknown):
            failing(status).execute(queries.FULFILLMENT_CREATE, {"fulfillment": {}})


def test_a_retry_after_date_is_understood(make_ctx):
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"errors": "Too many"}, headers={"Retry-After": when})

    with pytest.raises(RateLimited) as err:
        plugin.import_orders(_mock_ctx(make_ctx, handler), OrderQuery())
    assert 20 <= err.value.retry_after <= 31
