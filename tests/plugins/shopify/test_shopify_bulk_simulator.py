"""The simulator's bulk operations, over HTTP: Shopify's refusals, one at a time, the status
progression, the JSONL file by byte range, the synthetic catalogue, and loud unimplemented fields."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kade.plugins.shopify import queries
from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.queries import GRAPHQL_PATH
from kade.plugins.shopify.simulator.synthetic import ITEM_BASE, warehouse_quantity

HEADERS = {"X-Shopify-Access-Token": sm.DEFAULT_ADMIN_TOKEN}
RUN = (
    "mutation($q: String!) { bulkOperationRunQuery(query: $q) "
    "{ bulkOperation { id status } userErrors { code field message } } }"
)
POLL = (
    "query($id: ID!) { node(id: $id) "
    "{ ... on BulkOperation { id status errorCode objectCount rootObjectCount fileSize url } } }"
)
CURRENT = "{ currentBulkOperation { id status objectCount url } }"
VARIANTS = "{ productVariants { edges { node { id sku } } } }"


def gql(http: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    response = http.post(GRAPHQL_PATH, json={"query": query, "variables": variables}, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def run(http: httpx.Client, query: str) -> dict[str, Any]:
    return gql(http, RUN, q=query)["data"]["bulkOperationRunQuery"]  # type: ignore[no-any-return]


def poll(http: httpx.Client, op_id: str) -> dict[str, Any]:
    return gql(http, POLL, id=op_id)["data"]["node"]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ productVariants { edges { node { id nope } } } }", "Invalid bulk query: Cannot query field 'nope'"),
        ("mutation { bulkOperationCancel(id: \"x\") { userErrors { message } } }", "exactly one query operation"),
        ("query($n: Int) { productVariants(first: $n) { edges { node { id } } } }", "cannot take variables"),
        ("{ shop { name } }", "root fields are connections"),
        ("{ locations { edges { node { inventoryLevels { edges { node { id } } } } } } }", "must select the 'id'"),
        ("{ products { edges { node { id variants { edges { node { id inventoryItem { id inventoryLevels "
         "{ edges { node { id } } } } } } } } } } }", "nesting depth greater than 2"),
        ("{ not json", "Invalid bulk query: Syntax Error"),
    ],
)
def test_an_invalid_bulk_query_is_refused_like_shopify(http, sim, query, message):
    answer = run(http, query)
    assert answer["bulkOperation"] is None
    [error] = answer["userErrors"]
    assert error["code"] == "INVALID" and message in error["message"], error
    assert sim.bulk_operations == {}


def test_one_query_operation_at_a_time_per_app(http, sim):
    first = run(http, VARIANTS)["bulkOperation"]
    assert first["status"] == "CREATED"
    second = run(http, VARIANTS)
    assert second["bulkOperation"] is None
    assert second["userErrors"] == [{
        "code": "OPERATION_IN_PROGRESS", "field": None,
        "message": f"A bulk query operation for this app and shop is already in progress: {first['id']}.",
    }]
    sim.register_app("other-app", "s")  # another app has its own slot
    token = sim.issue_app_token("other-app")
    other = http.post(GRAPHQL_PATH, json={"query": RUN, "variables": {"q": VARIANTS}},
                      headers={"X-Shopify-Access-Token": token}).json()
    assert other["data"]["bulkOperationRunQuery"]["bulkOperation"]["status"] == "CREATED"
    assert poll(http, other["data"]["bulkOperationRunQuery"]["bulkOperation"]["id"]) is None  # not ours to see
    while poll(http, first["id"])["status"] != "COMPLETED":
        pass
    assert run(http, VARIANTS)["bulkOperation"]["status"] == "CREATED"


def test_status_moves_on_by_polls_and_the_file_is_jsonl(http, sim):
    sim.bulk_polls = 3
    op = run(http, VARIANTS)["bulkOperation"]
    seen = [poll(http, op["id"])["status"] for _ in range(3)]
    assert seen == ["RUNNING", "RUNNING", "COMPLETED"]
    done = poll(http, op["id"])
    assert done["objectCount"] == "5" and done["rootObjectCount"] == "5" and int(done["fileSize"]) > 0
    body = http.get(done["url"])
    assert body.status_code == 200 and len(body.content) == int(done["fileSize"])
    lines = [json.loads(line) for line in body.text.splitlines()]
    assert lines == [{"id": sm.gid("ProductVariant", v.id), "sku": v.sku} for v in sim.variants.values()]
    assert gql(http, CURRENT)["data"]["currentBulkOperation"]["id"] == op["id"]


def test_status_moves_on_by_the_clock(http, sim, clock):
    sim.bulk_polls, sim.bulk_seconds = None, 30.0
    op = run(http, VARIANTS)["bulkOperation"]
    assert [poll(http, op["id"])["status"] for _ in range(5)] == ["RUNNING"] * 5
    clock.advance(30)
    assert poll(http, op["id"])["status"] == "COMPLETED"


def test_nested_connections_give_parent_ids(http, sim):
    query = queries.bulk_stock_query(sm.gid("Location", sim.primary_location.id))
    op = run(http, query)["bulkOperation"]
    while (done := poll(http, op["id"]))["status"] != "COMPLETED":
        pass
    location, *levels = [json.loads(line) for line in http.get(done["url"]).text.splitlines()]
    assert location == {"id": sm.gid("Location", sim.primary_location.id)}
    assert {line["__parentId"] for line in levels} == {location["id"]}
    assert [line["quantities"][0]["quantity"] for line in levels] == [
        sim.level(v).available for v in sim.variants.values()]
    assert done["rootObjectCount"] == "1" and done["objectCount"] == str(1 + len(levels))


def test_result_is_served_by_byte_range_and_signed(http, sim, clock):
    op = run(http, VARIANTS)["bulkOperation"]
    while (done := poll(http, op["id"]))["status"] != "COMPLETED":
        pass
    whole = http.get(done["url"]).content
    part = http.get(done["url"], headers={"Range": "bytes=10-29"})
    assert part.status_code == 206 and part.content == whole[10:30]
    assert part.headers["content-range"] == f"bytes 10-29/{len(whole)}"
    tail = http.get(done["url"], headers={"Range": f"bytes={len(whole) - 5}-"})
    assert tail.content == whole[-5:]
    assert http.get(done["url"], headers={"Range": f"bytes={len(whole)}-"}).status_code == 416
    assert http.get(done["url"].replace("Signature=", "Signature=0")).status_code == 403
    clock.advance(7 * 86_400 + 1)
    expired = http.get(done["url"])
    assert expired.status_code == 400 and b"ExpiredToken" in expired.content


def test_a_failed_operation_has_an_error_code_and_no_url(http, sim):
    sim.fail_next_bulk_operation("FAILED", "INTERNAL_SERVER_ERROR")
    op = run(http, VARIANTS)["bulkOperation"]
    while (done := poll(http, op["id"]))["status"] == "RUNNING":
        pass
    assert done["status"] == "FAILED" and done["errorCode"] == "INTERNAL_SERVER_ERROR" and done["url"] is None


def test_cancel(http, sim):
    op = run(http, VARIANTS)["bulkOperation"]
    cancel = "mutation($id: ID!) { bulkOperationCancel(id: $id) { bulkOperation { status } userErrors { message } } }"
    answer = gql(http, cancel, id=op["id"])["data"]["bulkOperationCancel"]
    assert answer == {"bulkOperation": {"status": "CANCELING"}, "userErrors": []}
    assert poll(http, op["id"])["status"] == "CANCELED"
    again = gql(http, cancel, id=op["id"])["data"]["bulkOperationCancel"]
    assert "canceled" in again["userErrors"][0]["message"]


def test_an_empty_export_completes_without_a_url(http, sim):
    op = run(http, '{ productVariants(query: "sku:NOTHING") { edges { node { id } } } }')["bulkOperation"]
    while (done := poll(http, op["id"]))["status"] != "COMPLETED":
        pass
    assert done["objectCount"] == "0" and done["url"] is None and done["fileSize"] is None


def test_what_the_simulator_does_not_implement_is_loud(http, sim):
    answer = gql(http, '{ node(id: "gid://shopify/Order/1") { id } }')
    assert answer["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED"
    answer = gql(http, "{ shopifyPaymentsAccount { id } }")
    assert answer["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED"
    assert answer["data"] == {"shopifyPaymentsAccount": None}  # a nullable field with its error beside it
    answer = gql(http, "{ shop { name billingAddress { city } } }")  # a field the shop's view leaves out
    assert answer["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED"
    assert "Shop.billingAddress" in answer["errors"][0]["message"]
    assert gql(http, "{ currentBulkOperation(type: MUTATION) { id } }")["data"] == {"currentBulkOperation": None}
    assert gql(http, '{ node(id: "gid://shopify/BulkOperation/99") { id } }')["data"] == {"node": None}


def test_faults_reach_the_bulk_routes(http, sim):
    sim.inject_fault("bulkOperationRunQuery", "error")
    refused = http.post(GRAPHQL_PATH, json={"query": RUN, "variables": {"q": VARIANTS}}, headers=HEADERS)
    assert refused.status_code == 500
    assert sim.bulk_operations == {}
    op = run(http, VARIANTS)["bulkOperation"]
    while (done := poll(http, op["id"]))["status"] != "COMPLETED":
        pass
    sim.inject_download_fault("error", status=503)
    assert http.get(done["url"]).status_code == 503
    assert http.get(done["url"]).status_code == 200 and sim.scripted_faults == []


def test_the_synthetic_catalogue_is_generated_for_bulk_exports_only(clock):
    state = sm.SimState(clock=clock)
    catalog = state.use_synthetic_catalog(250, drift_every=100)
    app = sm.create_app(state)
    from kade.sim.transport import SyncASGITransport

    transport = SyncASGITransport(app)
    with httpx.Client(transport=transport, base_url="https://shop.myshopify.com") as http:
        location = sm.gid("Location", state.primary_location.id)
        op = run(http, queries.bulk_stock_query(location))["bulkOperation"]
        while (done := poll(http, op["id"]))["status"] != "COMPLETED":
            pass
        _, *levels = [json.loads(line) for line in http.get(done["url"]).text.splitlines()]
        assert len(levels) == 250 and catalog.drift_count == 3
        for i, line in enumerate(levels):
            assert line["item"] == {"id": sm.gid("InventoryItem", ITEM_BASE + i), "sku": f"SYN-{i:07d}"}
            drift = 1000 if i % 100 == 0 else 0
            assert line["quantities"] == [{"name": "available", "quantity": warehouse_quantity(i) + drift}]
            assert line["__parentId"] == location
        paged = gql(http, queries.STOCK_LEVELS.document, locationId=location, first=10)
        assert paged["errors"][0]["extensions"]["code"] == "NOT_IMPLEMENTED"
    transport.close()
    seeded = sm.SimState(clock=clock)
    seeded.seed_catalog(1)
    with pytest.raises(ValueError):
        seeded.use_synthetic_catalog(1)


def test_a_background_export_completes_only_once_written(http, sim):
    sim.bulk_background, sim.bulk_polls = True, 1
    op = run(http, VARIANTS)["bulkOperation"]
    [state] = sim.bulk_operations.values()
    assert state.written is not None and state.written.wait(10)
    assert poll(http, op["id"])["status"] == "COMPLETED"
    assert [json.loads(line)["sku"] for line in http.get(poll(http, op["id"])["url"]).text.splitlines()] == [
        v.sku for v in sim.variants.values()]
