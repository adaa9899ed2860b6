"""The simulator behaves like Shopify where the plugin depends on it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.queries import GRAPHQL_PATH, TOKEN_PATH
from kade.sim.base import Faults
from kade.sim.transport import SyncASGITransport

BASE_URL = "https://shop.myshopify.com"


def gql(http: httpx.Client, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    response = http.post(
        GRAPHQL_PATH,
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token or sm.DEFAULT_ADMIN_TOKEN},
    )
    return response


def test_unknown_field_is_a_graphql_error_not_a_crash(http):
    response = gql(http, "{ shop { name notAField } }")
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert "Cannot query field 'notAField' on type 'Shop'" in body["errors"][0]["message"]


def test_syntax_error_and_bad_variables_are_reported_like_shopify(http):
    assert "errors" in gql(http, "{ shop { name ").json()
    body = gql(http, "query($id: ID!) { order(id: $id) { id } }", {"id": None}).json()
    assert body["errors"] and body.get("data") is None


def test_missing_or_wrong_token_is_401(http):
    assert http.post(GRAPHQL_PATH, json={"query": "{ shop { name } }"}).status_code == 401
    assert gql(http, "{ shop { name } }", token="shpat_wrong").status_code == 401


def test_client_credentials_grant_issues_expiring_tokens(http, sim, clock):
    response = http.post(
        TOKEN_PATH,
        json={
            "client_id": sm.DEFAULT_CLIENT_ID,
            "client_secret": sm.DEFAULT_CLIENT_SECRET,
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200
    grant = response.json()
    assert set(grant) == {"access_token", "scope", "expires_in"}
    assert grant["expires_in"] == sm.TOKEN_LIFETIME
    assert gql(http, "{ shop { name } }", token=grant["access_token"]).status_code == 200
    clock.advance(sm.TOKEN_LIFETIME + 1)
    assert gql(http, "{ shop { name } }", token=grant["access_token"]).status_code == 401


def test_token_endpoint_refuses_bad_secrets_and_other_grants(http):
    bad = http.post(
        TOKEN_PATH,
        json={"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": "nope", "grant_type": "client_credentials"},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    other = http.post(TOKEN_PATH, json={"grant_type": "password"})
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"


def test_other_api_versions_are_not_served(http):
    response = http.post(
        "/admin/api/2019-04/graphql.json",
        json={"query": "{ shop { name } }"},
        headers={"X-Shopify-Access-Token": sm.DEFAULT_ADMIN_TOKEN},
    )
    assert response.status_code == 404


def test_every_response_reports_cost_and_the_bucket(http):
    body = gql(http, "{ shop { name } locations(first: 5) { nodes { id } } }").json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 + 2 + 5
    assert cost["actualQueryCost"] == 1 + 2 + 1  # one location exists
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == sm.BUCKET_SIZE
    assert status["restoreRate"] == sm.RESTORE_RATE
    assert status["currentlyAvailable"] == sm.BUCKET_SIZE - 4


def test_throttled_is_http_200_with_the_documented_shape(clock):
    state = sm.SimState(clock=clock, bucket_size=100, restore_rate=10)
    transport = SyncASGITransport(sm.create_app(state))
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        query = "{ locations(first: 60) { nodes { id } } }"
        assert gql(http, query).status_code == 200  # 62 requested, 3 used
        state.buckets["legacy-custom-app"].available = 40
        response = gql(http, query)
    transport.close()
    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "data" not in body
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 62 and cost["actualQueryCost"] is None
    assert cost["throttleStatus"] == {"maximumAvailable": 100, "currentlyAvailable": 40, "restoreRate": 10}
    assert state.throttled == 1


def test_single_query_cost_cap(http):
    body = gql(http, "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert body["errors"][0]["extensions"]["maxCost"] == 1000


def test_connections_need_first_or_last_and_cap_at_250(http):
    assert "first or last" in gql(http, "{ orders { nodes { id } } }").json()["errors"][0]["message"]
    assert (
        "cannot exceed 250"
        in gql(http, "{ productVariants(first: 251) { nodes { id } } }").json()["errors"][0]["message"]
    )


def test_cursor_paging_with_nodes_and_edges(http, sim):
    sim.generate_orders(7)
    seen = []
    after = None
    while True:
        body = gql(
            http,
            "query($after: String) { orders(first: 3, after: $after, sortKey: CREATED_AT) {"
            " pageInfo { hasNextPage endCursor } edges { cursor node { id name } } nodes { id } } }",
            {"after": after},
        ).json()
        conn = body["data"]["orders"]
        assert [e["node"]["id"] for e in conn["edges"]] == [n["id"] for n in conn["nodes"]]
        seen.extend(n["id"] for n in conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            break
        assert conn["pageInfo"]["endCursor"] == conn["edges"][-1]["cursor"]
        after = conn["pageInfo"]["endCursor"]
    assert seen == [sm.gid("Order", o.id) for o in sorted(sim.orders.values(), key=lambda o: o.id)]


def test_orders_search_updated_at_and_status(http, sim, clock):
    old = sim.add_order([(next(iter(sim.variants.values())), 1)])
    clock.advance(3600)
    new = sim.add_order([(next(iter(sim.variants.values())), 1)])
    sim.cancel_order(old)  # cancelling updates it too
    since = sm.iso(new.created_at)
    ids = lambda body: [n["id"] for n in body["data"]["orders"]["nodes"]]  # noqa: E731
    q = "query($q: String) { orders(first: 10, query: $q) { nodes { id } } }"
    assert ids(gql(http, q, {"q": f"updated_at:>='{since}'"}).json()) == [
        sm.gid("Order", old.id),
        sm.gid("Order", new.id),
    ]
    assert ids(gql(http, q, {"q": "status:open"}).json()) == [sm.gid("Order", new.id)]
    assert ids(gql(http, q, {"q": "status:cancelled"}).json()) == [sm.gid("Order", old.id)]


def test_orders_older_than_60_days_need_read_all_orders(http, sim, clock):
    sim.add_order([(next(iter(sim.variants.values())), 1)], created_at=sim.now() - 61 * 86_400)
    q = "{ orders(first: 10) { nodes { id } } }"
    assert gql(http, q).json()["data"]["orders"]["nodes"] == []
    sim.read_all_orders = True
    assert len(gql(http, q).json()["data"]["orders"]["nodes"]) == 1


SET = """mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) {
  inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } } userErrors { code field message } } }"""


def _set_input(sim, rows, *, ignore=False):
    loc = sm.gid("Location", sim.primary_location.id)
    return {
        "input": {
            "name": "available",
            "reason": "correction",
            "ignoreCompareQuantity": ignore,
            "quantities": [dict(r, locationId=r.get("locationId", loc)) for r in rows],
        }
    }


def test_inventory_set_compare_and_set(http, sim):
    variant = next(iter(sim.variants.values()))
    level = sim.level(variant)
    item = sm.gid("InventoryItem", variant.inventory_item_id)
    stale = gql(
        http, SET, _set_input(sim, [{"inventoryItemId": item, "quantity": 5, "compareQuantity": level.available + 1}])
    ).json()
    payload = stale["data"]["inventorySetQuantities"]
    assert payload["inventoryAdjustmentGroup"] is None
    assert payload["userErrors"] == [
        {
            "code": "COMPARE_QUANTITY_STALE",
            "field": ["input", "quantities", "0", "compareQuantity"],
            "message": "The compareQuantity value does not match persisted value.",
        }
    ]
    missing = gql(http, SET, _set_input(sim, [{"inventoryItemId": item, "quantity": 5}])).json()
    assert missing["data"]["inventorySetQuantities"]["userErrors"][0]["code"] == "COMPARE_QUANTITY_REQUIRED"
    ok = gql(
        http, SET, _set_input(sim, [{"inventoryItemId": item, "quantity": 5, "compareQuantity": level.available}])
    ).json()
    assert ok["data"]["inventorySetQuantities"]["userErrors"] == []
    assert level.available == 5


def test_inventory_set_is_all_or_nothing_and_capped(http, sim):
    variants = list(sim.variants.values())
    before = {v.id: sim.level(v).available for v in variants}
    rows = [{"inventoryItemId": sm.gid("InventoryItem", v.inventory_item_id), "quantity": 99} for v in variants]
    rows.append({"inventoryItemId": "gid://shopify/InventoryItem/1", "quantity": 1})
    body = gql(http, SET, _set_input(sim, rows, ignore=True)).json()
    errors = body["data"]["inventorySetQuantities"]["userErrors"]
    assert [e["code"] for e in errors] == ["INVALID_INVENTORY_ITEM"]
    assert {v.id: sim.level(v).available for v in variants} == before
    too_many = [rows[0]] * 251
    body = gql(http, SET, _set_input(sim, too_many, ignore=True)).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_INPUT_SIZE_EXCEEDED"


CREATE = """mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) {
  fulfillment { id status } userErrors { field message } } }"""


def _fo(sim, order):
    fo = order.fulfillment_orders[0]
    return sm.gid("FulfillmentOrder", fo.id), [sm.gid("FulfillmentOrderLineItem", li.id) for li in fo.lines]


def test_fulfillment_cannot_exceed_remaining_quantity(http, sim):
    order = sim.add_order([(next(iter(sim.variants.values())), 2)])
    fo_id, (li_id,) = _fo(sim, order)
    f = {
        "lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": [{"id": li_id, "quantity": 2}]}
        ]
    }
    assert gql(http, CREATE, {"f": f}).json()["data"]["fulfillmentCreate"]["userErrors"] == []
    again = gql(http, CREATE, {"f": f}).json()["data"]["fulfillmentCreate"]
    assert again["fulfillment"] is None
    assert "unfulfillable status= closed" in again["userErrors"][0]["message"]
    assert sim.fulfillment_status(order) == "FULFILLED"


def test_fulfillment_of_a_cancelled_order_is_refused(http, sim):
    order = sim.add_order([(next(iter(sim.variants.values())), 1)])
    fo_id, _ = _fo(sim, order)
    sim.cancel_order(order)
    body = gql(http, CREATE, {"f": {"lineItemsByFulfillmentOrder": [{"fulfillmentOrderId": fo_id}]}}).json()
    assert "unfulfillable status= cancelled" in body["data"]["fulfillmentCreate"]["userErrors"][0]["message"]


def test_order_cancel_is_an_asynchronous_job(http, sim, clock):
    variant = next(iter(sim.variants.values()))
    stock = sim.level(variant).available
    order = sim.add_order([(variant, 2)])
    body = gql(
        http,
        """mutation($id: ID!) { orderCancel(orderId: $id, refund: true, restock: true,
      reason: INVENTORY) { job { id done } orderCancelUserErrors { code message } } }""",
        {"id": sm.gid("Order", order.id)},
    ).json()
    job = body["data"]["orderCancel"]["job"]
    assert job["done"] is False and order.cancelled_at is None
    clock.advance(sm.CANCEL_JOB_SECONDS)
    done = gql(http, "query($id: ID!) { job(id: $id) { done } }", {"id": job["id"]}).json()
    assert done["data"]["job"]["done"] is True
    assert order.cancelled_at is not None and order.cancel_reason == "INVENTORY"
    assert sim.level(variant).available == stock


def _shape_problems(ours: Any, theirs: Any, path: str = "$") -> list[str]:
    """Keys we emit must exist in Shopify's example with the same JSON type (null fits anything)."""
    if ours is None or theirs is None:
        return []
    if isinstance(ours, dict):
        if not isinstance(theirs, dict):
            return [f"{path}: object vs {type(theirs).__name__}"]
        problems = []
        for key, value in ours.items():
            if key not in theirs:
                if theirs:  # an empty object in the example (origin_address {}) fixes no keys
                    problems.append(f"{path}.{key}: not in the REST order example")
                continue
            problems.extend(_shape_problems(value, theirs[key], f"{path}.{key}"))
        return problems
    if isinstance(ours, list):
        if not isinstance(theirs, list):
            return [f"{path}: list vs {type(theirs).__name__}"]
        if ours and theirs:
            return [p for item in ours for p in _shape_problems(item, theirs[0], f"{path}[]")]
        return []
    kinds = (bool, int | float, str)
    ours_kind = next(k for k in kinds if isinstance(ours, k))
    if not isinstance(theirs, ours_kind) or isinstance(theirs, bool) != isinstance(ours, bool):
        return [f"{path}: {type(ours).__name__} vs {type(theirs).__name__}"]
    return []


def test_webhook_payload_has_the_rest_order_shape(sim, rest_order_example, http):
    variants = list(sim.variants.values())
    order = sim.add_order([(variants[0], 2), (variants[1], 1)])
    fo_id, (li_id, _) = _fo(sim, order)
    gql(
        http,
        CREATE,
        {
            "f": {
                "trackingInfo": {"company": "PostNL", "number": "3S1"},
                "lineItemsByFulfillmentOrder": [
                    {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": [{"id": li_id, "quantity": 1}]}
                ],
            }
        },
    )
    payload = sim.delivery("orders/updated", order).json()
    assert _shape_problems(payload, rest_order_example) == []
    assert payload["fulfillments"] and payload["fulfillments"][0]["tracking_number"] == "3S1"
    assert payload["fulfillment_status"] == "partial"
    # covers most of Shopify's top-level keys, not a token subset
    assert len(set(payload) & set(rest_order_example)) >= 60


def test_webhook_deliveries_are_signed_with_shopify_headers(sim):
    order = sim.add_order([(next(iter(sim.variants.values())), 1)])
    delivery = sim.webhooks[-1]
    assert delivery.topic == "orders/create"
    expected = base64.b64encode(hmac.new(sm.DEFAULT_CLIENT_SECRET.encode(), delivery.body, hashlib.sha256).digest())
    assert delivery.headers["X-Shopify-Hmac-Sha256"] == expected.decode()
    for header in (
        "X-Shopify-Topic",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Shop-Domain",
        "X-Shopify-Triggered-At",
        "X-Shopify-API-Version",
        "X-Shopify-Event-Id",
    ):
        assert delivery.headers[header]
    assert json.loads(delivery.body)["admin_graphql_api_id"] == sm.gid("Order", order.id)


def test_generator_is_reproducible(clock):
    def names(seed):
        state = sm.SimState(seed=seed, clock=clock)
        return [(o.name, [(li.sku, li.quantity) for li in o.lines]) for o in state.generate_orders(5)]

    assert names(3) == names(3)
    assert names(3) != names(4)


def test_fault_plan_errors_and_lost_answers(sim):
    app = sm.create_app(sim, faults=Faults(error_rate=1.0))
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        assert gql(http, "{ shop { name } }").status_code == 500
    transport.close()
    variant = next(iter(sim.variants.values()))
    item = sm.gid("InventoryItem", variant.inventory_item_id)
    app = sm.create_app(sim, faults=Faults(timeout_after_apply_rate=1.0))
    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url=BASE_URL) as http, pytest.raises(httpx.ReadTimeout):
        gql(http, SET, _set_input(sim, [{"inventoryItemId": item, "quantity": 42}], ignore=True))
    transport.close()
    assert sim.level(variant).available == 42  # applied, answer lost


def test_targeted_fault_hits_only_the_named_operation(http, sim):
    sim.inject_fault("inventorySetQuantities", "timeout_before")
    assert gql(http, "{ shop { name } }").status_code == 200
    variant = next(iter(sim.variants.values()))
    before = sim.level(variant).available
    item = sm.gid("InventoryItem", variant.inventory_item_id)
    with pytest.raises(httpx.ReadTimeout):
        gql(http, SET, _set_input(sim, [{"inventoryItemId": item, "quantity": before + 5}], ignore=True))
    assert sim.level(variant).available == before
    with pytest.raises(ValueError, match="unknown fault"):
        sim.inject_fault("x", "explode")
