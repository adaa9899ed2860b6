"""verify_webhook / parse_webhook on the simulator's signed deliveries."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.errors import WebhookRejected
from kade.plugins.shopify import plugin
from kade.plugins.shopify import simulator as sm


@pytest.fixture
def delivery(sim):
    sim.add_order([(next(iter(sim.variants.values())), 2)])
    return sim.webhooks[-1]


def test_authentic_delivery_is_verified_and_parsed(ctx, delivery, sim):
    assert plugin.verify_webhook(ctx, delivery.headers, delivery.body) is True
    event = plugin.parse_webhook(ctx, delivery.headers, delivery.body)
    order = next(iter(sim.orders.values()))
    assert event.topic == "order_created"
    assert event.delivery_id == delivery.headers["X-Shopify-Webhook-Id"]
    assert event.remote_id == sm.gid("Order", order.id)
    assert event.payload["name"] == order.name


def test_header_names_are_case_insensitive(ctx, delivery):
    lowered = {k.lower(): v for k, v in delivery.headers.items()}
    assert plugin.verify_webhook(ctx, lowered, delivery.body)
    assert plugin.parse_webhook(ctx, lowered, delivery.body).delivery_id == delivery.webhook_id


def test_tampered_body_is_rejected(ctx, delivery):
    tampered = delivery.body.replace(b'"quantity":2', b'"quantity":9')
    assert tampered != delivery.body
    with pytest.raises(WebhookRejected, match="does not match"):
        plugin.verify_webhook(ctx, delivery.headers, tampered)


def test_wrong_secret_is_rejected(make_ctx, delivery):
    ctx = make_ctx(credentials={"client_id": sm.DEFAULT_CLIENT_ID, "client_secret": "another-app"})
    with pytest.raises(WebhookRejected):
        plugin.verify_webhook(ctx, delivery.headers, delivery.body)


def test_missing_signature_or_secret_is_rejected(make_ctx, ctx, delivery):
    headers = {k: v for k, v in delivery.headers.items() if k != "X-Shopify-Hmac-Sha256"}
    with pytest.raises(WebhookRejected, match="no X-Shopify-Hmac-Sha256"):
        plugin.verify_webhook(ctx, headers, delivery.body)
    no_secret = make_ctx("admin_token", {"access_token": sm.DEFAULT_ADMIN_TOKEN})
    with pytest.raises(WebhookRejected, match="no client_secret"):
        plugin.verify_webhook(no_secret, delivery.headers, delivery.body)


def test_delivery_for_another_shop_is_rejected(ctx, sim):
    sim.shop_domain = "other-shop.myshopify.com"  # same app secret, different shop
    sim.add_order([(next(iter(sim.variants.values())), 1)])
    delivery = sim.webhooks[-1]
    with pytest.raises(WebhookRejected, match="other-shop"):
        plugin.verify_webhook(ctx, delivery.headers, delivery.body)


def test_previous_secret_is_accepted_during_rotation(make_ctx, delivery):
    ctx = make_ctx(
        credentials={
            "client_id": sm.DEFAULT_CLIENT_ID,
            "client_secret": "new-secret",
            "previous_client_secret": sm.DEFAULT_CLIENT_SECRET,
        }
    )
    assert plugin.verify_webhook(ctx, delivery.headers, delivery.body)


def test_replayed_delivery_parses_identically(ctx, sim):
    order = sim.add_order([(next(iter(sim.variants.values())), 1)])
    first = sim.delivery("orders/updated", order, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    replay = sim.delivery("orders/updated", order, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    events = []
    for d in (first, replay):
        assert plugin.verify_webhook(ctx, d.headers, d.body)
        events.append(plugin.parse_webhook(ctx, d.headers, d.body))
    assert events[0] == events[1]
    assert events[0].delivery_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"


def test_topics(ctx, sim):
    order = sim.add_order([(next(iter(sim.variants.values())), 1)])
    sim.cancel_order(order)
    topics = {d.topic: plugin.parse_webhook(ctx, d.headers, d.body) for d in sim.webhooks}
    assert topics["orders/create"].topic == "order_created"
    assert topics["orders/updated"].topic == "order_updated"
    assert topics["orders/cancelled"].topic == "order_cancelled"
    assert topics["orders/cancelled"].payload["cancelled_at"] is not None
    ignored = dict(sim.webhooks[0].headers, **{"X-Shopify-Topic": "app/uninstalled"})
    assert plugin.parse_webhook(ctx, ignored, b"{}") is None


def test_malformed_deliveries(ctx, delivery):
    no_id = {k: v for k, v in delivery.headers.items() if k != "X-Shopify-Webhook-Id"}
    with pytest.raises(WebhookRejected, match="X-Shopify-Webhook-Id"):
        plugin.parse_webhook(ctx, no_id, delivery.body)
    with pytest.raises(WebhookRejected, match="not JSON"):
        plugin.parse_webhook(ctx, delivery.headers, b"<xml/>")
    with pytest.raises(WebhookRejected, match="not a JSON object"):
        plugin.parse_webhook(ctx, delivery.headers, b"[1]")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_change_to_the_body_breaks_the_signature(ctx, delivery, data):
    body = bytearray(delivery.body)
    index = data.draw(st.integers(0, len(body) - 1))
    body[index] = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]))
    with pytest.raises(WebhookRejected):
        plugin.verify_webhook(ctx, delivery.headers, bytes(body))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40))
def test_signature_round_trip(make_ctx, body, secret):
    ctx = make_ctx(credentials={"client_id": "x", "client_secret": secret})
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    assert plugin.verify_webhook(ctx, {"X-Shopify-Hmac-Sha256": digest}, body)
