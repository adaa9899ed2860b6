"""Webhook deliveries as WC_Webhook makes them, verified and parsed by the plugin."""

from __future__ import annotations

import httpx
import pytest

from kade.errors import WebhookRejected
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import WebhookDelivery, WooState
from kade.types import ConnectionContext

SECRET = "s3cr3t-with/slash"


@pytest.fixture
def hooked(sim: WooState, http: httpx.Client, key, ctx_factory) -> ConnectionContext:
    for topic in ("order.created", "order.updated", "order.deleted"):
        response = http.post(
            "/wp-json/wc/v3/webhooks",
            json={"name": topic, "topic": topic, "delivery_url": "https://kade.example/hooks/1", "secret": SECRET},
            auth=(key.consumer_key, key.consumer_secret),
        )
        assert response.status_code == 201
    return ctx_factory(settings={"webhook_secret": SECRET})


def deliveries(sim: WooState) -> list[WebhookDelivery]:
    return sim.deliver_webhooks(lambda d: 200)


def test_ping_at_creation_is_unsigned_and_recognised(sim: WooState, hooked: ConnectionContext) -> None:
    pings = deliveries(sim)
    assert [d.body for d in pings] == [b"webhook_id=1", b"webhook_id=2", b"webhook_id=3"]
    assert "X-WC-Webhook-Signature" not in pings[0].headers
    assert plugin.verify_webhook(hooked, pings[0].headers, pings[0].body) is True
    event = plugin.parse_webhook(hooked, pings[0].headers, pings[0].body)
    assert event is not None and event.topic == "ping" and event.remote_id is None


def test_signed_order_deliveries_verify_and_parse(sim: WooState, hooked: ConnectionContext) -> None:
    deliveries(sim)
    order = sim.generate_orders(1)[0]
    sim.emit("order.created", order)
    sim.set_order_status(order, "cancelled")
    created, updated = deliveries(sim)
    assert created.headers["X-WC-Webhook-Topic"] == "order.created"
    assert (created.headers["X-WC-Webhook-Resource"], created.headers["X-WC-Webhook-Event"]) == ("order", "created")
    assert b"\\/" in created.body, "the body keeps wp_json_encode's escaped slashes"
    for delivery in (created, updated):
        assert plugin.verify_webhook(hooked, delivery.headers, delivery.body) is True
    first = plugin.parse_webhook(hooked, created.headers, created.body)
    second = plugin.parse_webhook(hooked, updated.headers, updated.body)
    assert first is not None and first.topic == "order_created" and first.remote_id == str(order.id)
    assert second is not None and second.topic == "order_cancelled"
    assert first.delivery_id.startswith(created.headers["X-WC-Webhook-Delivery-ID"])
    assert first.delivery_id != second.delivery_id


def test_replayed_delivery_has_the_same_delivery_id(sim: WooState, hooked: ConnectionContext) -> None:
    deliveries(sim)
    sim.set_order_status(sim.generate_orders(1)[0], "completed")
    [delivery] = deliveries(sim)
    once = plugin.parse_webhook(hooked, delivery.headers, delivery.body)
    again = plugin.parse_webhook(hooked, dict(delivery.headers), bytes(delivery.body))
    assert once is not None and again is not None and once.delivery_id == again.delivery_id
    assert once.topic == "order_updated"


def test_deleted_order_is_a_cancellation(sim: WooState, hooked: ConnectionContext) -> None:
    deliveries(sim)
    order = sim.generate_orders(1)[0]
    sim.delete_order(order)
    [delivery] = deliveries(sim)
    assert delivery.body == f'{{"id":{order.id}}}'.encode()
    event = plugin.parse_webhook(hooked, delivery.headers, delivery.body)
    assert event is not None and event.topic == "order_cancelled" and event.remote_id == str(order.id)


def _one_delivery(sim: WooState) -> WebhookDelivery:
    deliveries(sim)
    sim.set_order_status(sim.generate_orders(1)[0], "completed")
    [delivery] = deliveries(sim)
    return delivery


def test_tampered_body_is_rejected(sim: WooState, hooked: ConnectionContext) -> None:
    delivery = _one_delivery(sim)
    with pytest.raises(WebhookRejected, match="does not match"):
        plugin.verify_webhook(hooked, delivery.headers, delivery.body.replace(b'"completed"', b'"cancelled"'))


def test_wrong_secret_is_rejected(sim: WooState, hooked: ConnectionContext, ctx_factory) -> None:
    delivery = _one_delivery(sim)
    other = ctx_factory(settings={"webhook_secret": "another"})
    with pytest.raises(WebhookRejected):
        plugin.verify_webhook(other, delivery.headers, delivery.body)
    with pytest.raises(WebhookRejected, match="no webhook_secret"):
        plugin.verify_webhook(ctx_factory(), delivery.headers, delivery.body)


def test_unsigned_order_delivery_is_rejected(sim: WooState, hooked: ConnectionContext) -> None:
    delivery = _one_delivery(sim)
    headers = {k: v for k, v in delivery.headers.items() if k != "X-WC-Webhook-Signature"}
    with pytest.raises(WebhookRejected, match="without X-WC-Webhook-Signature"):
        plugin.verify_webhook(hooked, headers, delivery.body)
    with pytest.raises(WebhookRejected):
        plugin.verify_webhook(hooked, {"Content-Type": "application/x-www-form-urlencoded"}, b"webhook_id=1&x=2")


def test_headers_are_matched_case_insensitively(sim: WooState, hooked: ConnectionContext) -> None:
    delivery = _one_delivery(sim)
    lower = {k.lower(): v for k, v in delivery.headers.items()}
    assert plugin.verify_webhook(hooked, lower, delivery.body) is True
    event = plugin.parse_webhook(hooked, lower, delivery.body)
    assert event is not None and event.topic == "order_updated"


def test_webhook_is_disabled_after_more_than_five_failures(sim: WooState, hooked: ConnectionContext) -> None:
    deliveries(sim)
    order = sim.generate_orders(1)[0]
    for _ in range(6):
        sim.set_order_status(order, "on-hold")
        sim.set_order_status(order, "processing")
        sim.deliver_webhooks(lambda d: 500)
    hook = next(h for h in sim.webhooks.values() if h.topic == "order.updated")
    assert hook.status == "disabled"


def test_product_topics_and_ignored_topics(sim: WooState, http: httpx.Client, key, ctx_factory) -> None:
    ctx = ctx_factory(settings={"webhook_secret": SECRET})
    for topic in ("product.updated", "coupon.created"):
        http.post(
            "/wp-json/wc/v3/webhooks",
            json={"topic": topic, "delivery_url": "https://kade.example/h", "secret": SECRET},
            auth=(key.consumer_key, key.consumer_secret),
        )
    deliveries(sim)
    product = sim.add_product(sku="A")
    http.put(
        f"/wp-json/wc/v3/products/{product.id}",
        json={"stock_quantity": 3},
        auth=(key.consumer_key, key.consumer_secret),
    )
    [delivery] = deliveries(sim)
    event = plugin.parse_webhook(ctx, delivery.headers, delivery.body)
    assert event is not None and event.topic == "product_updated" and event.remote_id == str(product.id)
    coupon = {**delivery.headers, "X-WC-Webhook-Topic": "coupon.created"}
    assert plugin.parse_webhook(ctx, coupon, delivery.body) is None


def test_invalid_topic_is_refused_by_the_store(http: httpx.Client, key) -> None:
    response = http.post(
        "/wp-json/wc/v3/webhooks",
        json={"topic": "order.shipped", "delivery_url": "https://k.example", "secret": "x"},
        auth=(key.consumer_key, key.consumer_secret),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "woocommerce_rest_webhook_invalid_topic"
