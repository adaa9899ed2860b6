"""The tenant-isolation matrix: tenant A's keys never read or change anything of tenant B's.

Every operation in the OpenAPI document must appear here (a new endpoint without a row fails
the test); every id of B's is guessed on every endpoint taking an id; every answer to A is
searched for B's marker; B's rows are compared before and after.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from tests.webapi.conftest import bearer
from tests.webapi.world import MARKER

# (method, path) → body for writes (None for reads); ids in the path are B's, guessed
MATRIX: dict[tuple[str, str], Any] = {
    ("get", "/products"): None,
    ("post", "/products"): "last",  # checked on its own, at the end
    ("post", "/stock"): None,  # checked on its own
    ("get", "/orders"): None,
    ("get", "/orders/{order_id}"): None,
    ("post", "/orders/{order_id}/shipments"): {"carrier": "PostNL", "tracking_code": "X"},
    ("post", "/orders/{order_id}/cancel"): {"reason": "out_of_stock"},
    ("get", "/notifications"): None,
    ("post", "/notifications/{notification_id}/ack"): None,
    ("get", "/connections"): None,
    ("post", "/webhooks"): "last",  # checked on its own, at the end
    ("get", "/webhooks"): None,
    ("delete", "/webhooks/{subscription_id}"): None,
    ("get", "/webhooks/{subscription_id}/deliveries"): None,
    ("post", "/webhooks/{subscription_id}/replay"): {"since": "2000-01-01T00:00:00+00:00"},
    ("get", "/operator/tenants"): None,
    ("get", "/operator/connections"): None,
    ("get", "/operator/notifications"): None,
    ("post", "/operator/notifications/{notification_id}/ack"): None,
    ("get", "/operator/health"): None,
}


def _snapshot(kade) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as text: what must not move."""
    out = {}
    with kade.db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in ("api_keys", "events", "leases"):
                continue  # A's own key use and the event log legitimately change
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(str(v) for v in row) for row in rows]
    return out


def test_every_operation_is_in_the_matrix(client, world) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    operations = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert operations == set(MATRIX)


def test_tenant_a_cannot_reach_tenant_b(client, world, kade) -> None:
    a, b = world.a, world.b
    before = _snapshot(kade)
    keys = [a.write_key, a.read_key]
    answers: list[str] = []

    def call(method: str, url: str, key: str, **kwargs: Any) -> Any:
        r = client.request(method.upper(), "/api/v1" + url, headers=bearer(key), **kwargs)
        assert r.status_code < 500, (method, url, r.text)
        answers.append(r.text)
        return r

    for (method, path), body in MATRIX.items():
        if path.startswith("/operator"):
            # tenant keys are refused outright, whatever the id
            for key in keys:
                url = path.replace("{notification_id}", str(b.notification_ids[0]))
                assert call(method, url, key).status_code == 403
            continue
        if "{order_id}" in path or "{notification_id}" in path or "{subscription_id}" in path:
            ids = (b.order_ids if "{order_id}" in path else b.notification_ids if "{notification_id}" in path
                   else b.subscription_ids)
            for guessed in ids:
                url = (path.replace("{order_id}", str(guessed)).replace("{notification_id}", str(guessed))
                       .replace("{subscription_id}", str(guessed)))
                r = call(method, url, a.write_key, **({"json": body} if isinstance(body, dict) else {}))
                assert r.status_code == 404 and r.json()["type"] == "urn:kade:problem:not-found", (url, r.text)
                if method == "get":
                    assert call(method, url, a.read_key).status_code == 404
            continue
        if method == "get":
            for key in keys:
                call("get", path, key)
                call("get", path, key, params={"connection_id": b.connection_id, "limit": 1000})
                call("get", path, key, params={"open": True, "limit": 1000})
    # B's SKUs through A's stock endpoint: unknown to A, refused, nothing changed
    r = call("post", "/stock", a.write_key, json={"items": [{"sku": sku, "quantity": 1} for sku in b.skus]})
    assert r.status_code == 422 and r.json()["type"] == "urn:kade:problem:rejected"
    answers.pop()  # the refusal names the SKUs A sent, which is no leak
    # B's deliveries through A's own subscription: not A's, so not found, and not queued again
    r = call("post", f"/webhooks/{a.subscription_ids[0]}/replay", a.write_key,
             json={"delivery_ids": b.delivery_ids})
    assert r.status_code == 404 and r.json()["type"] == "urn:kade:problem:not-found", r.text
    answers.pop()  # the refusal names the ids A sent
    for text in answers:
        assert MARKER not in text
    r = call("post", "/webhooks", a.write_key, json={"url": "https://wms.example/a2", "events": ["orders.changed"]})
    assert r.status_code == 201 and r.json()["secret"].startswith("whsec_")
    # A may use the same SKU in its own catalogue; B's product stays as it was
    r = call("post", "/products", a.write_key, json={"items": [{"sku": b.skus[0], "name": "A's own"}]})
    assert r.json() == {"created": 1, "updated": 0}
    after = _snapshot(kade)
    for table, rows in before.items():
        if table in ("products", "webhook_subscriptions"):
            assert set(rows) <= set(after[table])  # one product and one subscription added, for A
            assert len(after[table]) == len(rows) + 1
        elif table not in ("idempotent_requests",):
            assert after[table] == rows, table
