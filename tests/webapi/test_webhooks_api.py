"""Webhook subscriptions through the API: the same core functions as `kade webhook ...`."""

from __future__ import annotations

from sqlmodel import select

from kade.models import Action, ActionStatus, WebhookSubscription
from kade.outbound import sign, verify
from tests.webapi.conftest import bearer


def test_subscribe_list_deliveries_replay_and_remove(client, world, kade) -> None:
    a = world.a
    made = client.post("/api/v1/webhooks", json={"url": "https://wms.example/in", "events": ["orders.changed"]},
                       headers=bearer(a.write_key))
    assert made.status_code == 201, made.text
    sub = made.json()
    assert sub["events"] == ["orders.changed"] and sub["secret"].startswith("whsec_")
    with kade.db.session() as session:
        row = session.get(WebhookSubscription, sub["id"])
        assert row is not None and kade.vault.decrypt(row.secret_encrypted)["secret"] == sub["secret"]
    assert verify(sub["secret"], sign(sub["secret"], 1, b"{}"), b"{}", now=1)  # the secret is the signing one
    listed = client.get("/api/v1/webhooks", headers=bearer(a.read_key))
    assert [s["id"] for s in listed.json()["items"]] == [a.subscription_ids[0], sub["id"]]
    assert "secret" not in listed.text and sub["secret"] not in listed.text

    deliveries = client.get(f"/api/v1/webhooks/{a.subscription_ids[0]}/deliveries", headers=bearer(a.read_key))
    assert [(d["id"], d["type"], d["status"], d["attempts"]) for d in deliveries.json()["items"]] == [
        (a.delivery_ids[0], "orders.created", "pending", 0)]
    with kade.db.transaction() as session:
        action = session.get(Action, a.delivery_ids[0])
        assert action is not None
        action.status = ActionStatus.FAILED
    assert client.get(f"/api/v1/webhooks/{a.subscription_ids[0]}/deliveries", params={"failed": True},
                      headers=bearer(a.read_key)).json()["items"][0]["status"] == "failed"
    replayed = client.post(f"/api/v1/webhooks/{a.subscription_ids[0]}/replay",
                           json={"delivery_ids": a.delivery_ids}, headers=bearer(a.write_key))
    assert (replayed.status_code, replayed.json()) == (202, {"queued": 1})
    with kade.db.session() as session:
        assert session.get(Action, a.delivery_ids[0]).status == ActionStatus.PENDING  # type: ignore[union-attr]
    # a delivery of another subscription (even the tenant's own) is not this one's
    other = client.post(f"/api/v1/webhooks/{sub['id']}/replay", json={"delivery_ids": a.delivery_ids},
                        headers=bearer(a.write_key))
    assert (other.status_code, other.json()["type"]) == (404, "urn:kade:problem:not-found")
    since = client.post(f"/api/v1/webhooks/{a.subscription_ids[0]}/replay",
                        json={"since": "2000-01-01T00:00:00Z"}, headers=bearer(a.write_key))
    assert since.json() == {"queued": 1}

    removed = client.delete(f"/api/v1/webhooks/{a.subscription_ids[0]}", headers=bearer(a.write_key))
    assert removed.json() == {"id": a.subscription_ids[0], "dropped": 1}
    with kade.db.session() as session:
        assert session.exec(select(Action.status).where(Action.id == a.delivery_ids[0])).one() == "cancelled"
    again = client.delete(f"/api/v1/webhooks/{a.subscription_ids[0]}", headers=bearer(a.write_key))
    assert (again.status_code, again.json()["type"]) == (404, "urn:kade:problem:not-found")
    assert [s["id"] for s in client.get("/api/v1/webhooks", headers=bearer(a.read_key)).json()["items"]] == [sub["id"]]


def test_bad_webhook_requests_are_problems(client, world) -> None:
    a = world.a
    cases = [
        ("post", "/api/v1/webhooks", a.read_key, {"url": "https://x.example/", "events": ["orders.created"]},
         403, "forbidden"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "https://x.example/", "events": ["orders.exploded"]},
         422, "validation"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "ftp://x.example/", "events": ["orders.created"]},
         422, "validation"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "https://", "events": ["orders.created"]},
         422, "validation"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "https:///nohost", "events": ["orders.created"]},
         422, "rejected"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "https://x.example/", "events": []}, 422, "validation"),
        # found by Schemathesis: httpx refuses these hosts and ports, which must not be a 500
        ("post", "/api/v1/webhooks", a.write_key, {"url": "http://::", "events": ["orders.created"]},
         422, "rejected"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "http://\u00b7", "events": ["orders.created"]},
         422, "rejected"),
        ("post", "/api/v1/webhooks", a.write_key, {"url": "http://x.example:99999/", "events": ["orders.created"]},
         422, "rejected"),
        ("delete", f"/api/v1/webhooks/{a.subscription_ids[0]}", a.read_key, None, 403, "forbidden"),
        ("delete", "/api/v1/webhooks/0", a.write_key, None, 422, "validation"),
        ("get", "/api/v1/webhooks/999999/deliveries", a.read_key, None, 404, "not-found"),
        ("post", f"/api/v1/webhooks/{a.subscription_ids[0]}/replay", a.write_key, {}, 422, "validation"),
        ("post", f"/api/v1/webhooks/{a.subscription_ids[0]}/replay", a.write_key,
         {"delivery_ids": [1], "since": "2000-01-01T00:00:00Z"}, 422, "validation"),
        ("post", f"/api/v1/webhooks/{a.subscription_ids[0]}/replay", a.write_key, {"delivery_ids": [999999]},
         404, "not-found"),
    ]
    for method, url, key, body, status, slug in cases:
        r = client.request(method.upper(), url, headers=bearer(key), **({"json": body} if body is not None else {}))
        assert (r.status_code, r.json()["type"]) == (status, f"urn:kade:problem:{slug}"), (url, body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
