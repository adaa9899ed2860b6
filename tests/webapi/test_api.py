"""The warehouse API's behaviour: what each endpoint does, through the CLI's core functions."""

from __future__ import annotations

from sqlmodel import select

from kade.models import Action, ActionKind, ApiKey, Order, Product, Shipment
from tests.webapi.conftest import bearer

PROBLEM = "application/problem+json"


def test_no_key_bad_key_and_revoked_key_are_401_problems(client, world, kade) -> None:
    for headers in ({}, bearer("nonsense"), bearer(world.a.write_key[:-2] + "xx"), {"Authorization": "Basic eDp5"}):
        r = client.get("/api/v1/orders", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["type"] == "urn:kade:problem:unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    from kade.apikeys import revoke_key

    key_id = world.a.read_key.split("_")[1]
    assert client.get("/api/v1/orders", headers=bearer(world.a.read_key)).status_code == 200
    with kade.db.transaction() as session:
        revoke_key(session, key_id)
    assert client.get("/api/v1/orders", headers=bearer(world.a.read_key)).status_code == 401


def test_last_used_is_recorded(client, world, kade) -> None:
    key_id = world.a.read_key.split("_")[1]
    client.get("/api/v1/connections", headers=bearer(world.a.read_key))
    with kade.db.session() as session:
        row = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).one()
    assert row.last_used_at is not None
    assert len(row.secret_hash) == 64 and world.a.read_key.split("_", 2)[2] not in row.secret_hash


def test_scopes(client, world) -> None:
    r = client.post("/api/v1/stock", json={"items": [{"sku": "ACME-1", "quantity": 3}]},
                    headers=bearer(world.a.read_key))
    assert r.status_code == 403 and r.json()["type"] == "urn:kade:problem:forbidden"
    assert client.get("/api/v1/orders", headers=bearer(world.operator_key)).status_code == 403
    assert client.get("/api/v1/operator/tenants", headers=bearer(world.a.write_key)).status_code == 403
    tenants = client.get("/api/v1/operator/tenants", headers=bearer(world.operator_key)).json()["items"]
    assert [t["slug"] for t in tenants] == ["acme", "beta"]


def test_validation_errors_name_the_field(client, world) -> None:
    r = client.post("/api/v1/stock", json={"items": [{"sku": "ACME-1", "quantity": 1}, {"sku": "ACME-2",
                                                                                      "quantity": -4}]},
                    headers=bearer(world.a.write_key))
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == "urn:kade:problem:validation"
    assert [e["field"] for e in body["errors"]] == ["items[1].quantity"]
    r = client.post("/api/v1/stock", content=b"{not json", headers={**bearer(world.a.write_key),
                                                                  "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["type"] == "urn:kade:problem:validation"
    r = client.get("/api/v1/orders?limit=0", headers=bearer(world.a.read_key))
    assert r.json()["errors"][0]["field"] == "limit" and r.json()["errors"][0]["location"] == "query"


def test_unknown_route_and_method_are_problems(client, world) -> None:
    r = client.get("/api/v1/nothing-here", headers=bearer(world.a.read_key))
    assert (r.status_code, r.json()["type"]) == (404, "urn:kade:problem:not-found")
    r = client.delete("/api/v1/orders", headers=bearer(world.a.read_key))
    assert (r.status_code, r.json()["type"]) == (405, "urn:kade:problem:method-not-allowed")


def test_stock_goes_through_the_coalescing_path_and_is_idempotent(client, world, kade) -> None:
    headers = {**bearer(world.a.write_key), "Idempotency-Key": "batch-1"}
    body = {"items": [{"sku": "ACME-1", "quantity": 7}, {"sku": "ACME-2", "quantity": 0}]}
    first = client.post("/api/v1/stock", json=body, headers=headers)
    assert first.status_code == 202, first.text
    assert first.json()["accepted"] == 2 and first.json()["replayed"] is False
    again = client.post("/api/v1/stock", json=body, headers=headers)
    assert again.json()["replayed"] is True
    other = client.post("/api/v1/stock", json={"items": [{"sku": "ACME-1", "quantity": 8}]}, headers=headers)
    assert (other.status_code, other.json()["type"]) == (409, "urn:kade:problem:conflict")
    with kade.db.session() as session:
        stock = {p.sku: p.stock for p in session.exec(select(Product).where(Product.sku.in_(["ACME-1", "ACME-2"])))}
        pushes = session.exec(select(Action).where(Action.kind == ActionKind.STOCK)).all()
    assert stock == {"ACME-1": 7, "ACME-2": 0}
    # one pending push per changed product link, exactly what `kade stock set` queues
    assert len(pushes) == 2 and {a.idempotency_key.split(":")[-1] for a in pushes} == {"pending"}


def test_unknown_sku_refuses_the_whole_batch(client, world, kade) -> None:
    r = client.post("/api/v1/stock", json={"items": [{"sku": "ACME-1", "quantity": 99},
                                                     {"sku": "NOPE", "quantity": 1}]},
                    headers=bearer(world.a.write_key))
    assert (r.status_code, r.json()["type"]) == (422, "urn:kade:problem:rejected")
    assert "NOPE" in r.json()["detail"]
    with kade.db.session() as session:
        assert session.exec(select(Product.stock).where(Product.sku == "ACME-1")).one() == 5


def test_feed_pages_with_a_cursor_and_sees_changes(client, world) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/orders", params=params, headers=bearer(world.a.read_key)).json()
        seen += [o["id"] for o in page["orders"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == world.a.order_ids
    assert client.get("/api/v1/orders", params={"cursor": cursor},
                      headers=bearer(world.a.read_key)).json()["orders"] == []
    order_id = world.a.order_ids[0]
    shipped = client.post(f"/api/v1/orders/{order_id}/shipments", json={"carrier": "PostNL", "tracking_code": "3S1"},
                          headers=bearer(world.a.write_key))
    assert shipped.status_code == 201, shipped.text
    changed = client.get("/api/v1/orders", params={"cursor": cursor}, headers=bearer(world.a.read_key)).json()
    assert [(o["id"], o["state"]) for o in changed["orders"]] == [(order_id, "shipped")]
    only_open = client.get("/api/v1/orders", params={"state": "open"}, headers=bearer(world.a.read_key)).json()
    assert order_id not in [o["id"] for o in only_open["orders"]]
    bad = client.get("/api/v1/orders", params={"cursor": "bm9wZQ"}, headers=bearer(world.a.read_key))
    assert (bad.status_code, bad.json()["type"]) == (400, "urn:kade:problem:invalid-cursor")


def test_order_detail_and_partial_shipment_with_idempotency(client, world, kade) -> None:
    order_id = world.a.order_ids[1]
    detail = client.get(f"/api/v1/orders/{order_id}", headers=bearer(world.a.read_key)).json()
    assert detail["origin"]["connection_id"] == world.a.connection_id
    assert [(li["sku"], li["quantity_open"]) for li in detail["lines"]] == [("ACME-1", 2), ("ACME-2", 1)]
    headers = {**bearer(world.a.write_key), "Idempotency-Key": "ship-1"}
    body = {"carrier": "DHL", "lines": [{"sku": "ACME-1", "quantity": 1}]}
    first = client.post(f"/api/v1/orders/{order_id}/shipments", json=body, headers=headers)
    again = client.post(f"/api/v1/orders/{order_id}/shipments", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    with kade.db.session() as session:
        assert len(session.exec(select(Shipment).where(Shipment.order_id == order_id)).all()) == 1
        assert session.get(Order, order_id).status == "partially_shipped"
    too_many = client.post(f"/api/v1/orders/{order_id}/shipments",
                           json={"carrier": "DHL", "lines": [{"sku": "ACME-2", "quantity": 5}]},
                           headers=bearer(world.a.write_key))
    assert (too_many.status_code, too_many.json()["type"]) == (422, "urn:kade:problem:rejected")


def test_cancel_goes_to_the_origin_and_refuses_twice(client, world) -> None:
    order_id = world.a.order_ids[2]
    r = client.post(f"/api/v1/orders/{order_id}/cancel", json={"reason": "out_of_stock"},
                    headers=bearer(world.a.write_key))
    assert r.json() == {"order_id": order_id, "state": "cancelled"}
    r = client.post(f"/api/v1/orders/{order_id}/cancel", headers=bearer(world.a.write_key))
    assert (r.status_code, r.json()["type"]) == (422, "urn:kade:problem:rejected")


def test_products_upsert_and_page(client, world) -> None:
    r = client.post("/api/v1/products", json={"items": [{"sku": "ACME-9", "ean": "123", "name": "New",
                                                         "price": "1.50"}, {"sku": "ACME-1", "name": "Renamed"}]},
                    headers=bearer(world.a.write_key))
    assert r.json() == {"created": 1, "updated": 1}
    items, cursor = [], None
    while True:
        page = client.get("/api/v1/products", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=bearer(world.a.read_key)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [p["sku"] for p in items] == ["ACME-1", "ACME-2", "ACME-3", "ACME-9"]
    assert items[0]["name"] == "Renamed" and items[3]["price"] == "1.5"


def test_notifications_ack_and_connections(client, world) -> None:
    notes = client.get("/api/v1/notifications", headers=bearer(world.a.read_key)).json()["items"]
    assert [n["id"] for n in notes] == world.a.notification_ids
    acked = client.post(f"/api/v1/notifications/{notes[0]['id']}/ack", headers=bearer(world.a.write_key)).json()
    assert acked["acknowledged_at"] is not None
    left = client.get("/api/v1/notifications", params={"unacknowledged": True},
                      headers=bearer(world.a.read_key)).json()["items"]
    assert notes[0]["id"] not in [n["id"] for n in left]
    conns = client.get("/api/v1/connections", headers=bearer(world.a.read_key)).json()["items"]
    assert [(c["id"], c["status"]) for c in conns] == [(world.a.connection_id, "active")]
    everyone = client.get("/api/v1/operator/connections", headers=bearer(world.operator_key)).json()["items"]
    assert {c["id"] for c in everyone} == {world.a.connection_id, world.b.connection_id}


def test_openapi_document_is_complete(client) -> None:
    """Every operation says how it authenticates and which problems it answers with."""
    spec = client.get("/api/v1/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"Problem", "FieldError"} <= set(spec["components"]["schemas"])
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert op.get("security") == [{"HTTPBearer": []}], (method, path)
            for status in ("401", "403", "422"):
                content = op["responses"][status]["content"]
                assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem"), (method, path)
            success = next(code for code in op["responses"] if code.startswith("2"))
            assert "$ref" in op["responses"][success]["content"]["application/json"]["schema"], (method, path)


def test_any_path_under_the_prefix_answers_with_a_problem(client, world) -> None:
    r = client.post("/api/v1/orders/d%0A%03/shipments", json={"carrier": "X"}, headers=bearer(world.a.write_key))
    assert r.status_code in (404, 422) and r.headers["content-type"] == PROBLEM
