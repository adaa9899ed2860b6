"""App-system webhooks: shopware-shop-signature over the raw body, events mapped to topics."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from conftest import Shop

from kade.errors import WebhookRejected
from kade.plugins.shopware import plugin


def test_deliveries_the_shop_sends_verify_and_parse(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    ctx = shop.ctx()
    shop.harness.cancel_order(order.remote_id)
    placed, cancelled = shop.sim.webhooks[-2:]
    for delivery in (placed, cancelled):
        assert plugin.verify_webhook(ctx, delivery.headers, delivery.body) is True
    created = plugin.parse_webhook(ctx, placed.headers, placed.body)
    gone = plugin.parse_webhook(ctx, cancelled.headers, cancelled.body)
    assert created is not None and (created.topic, created.remote_id) == ("order_created", order.remote_id)
    assert gone is not None and (gone.topic, gone.remote_id) == ("order_cancelled", order.remote_id)
    assert created.delivery_id != gone.delivery_id and created.signed_at is not None


def test_entity_written_events_name_their_row(shop: Shop) -> None:
    [(product_id, _)] = shop.harness.seed_products(1)
    delivery = shop.sim.signed_delivery("product.written", "product", product_id)
    event = plugin.parse_webhook(shop.ctx(), delivery.headers, delivery.body)
    assert event is not None and (event.topic, event.remote_id) == ("product_updated", product_id)


def test_a_tampered_body_or_wrong_secret_is_refused(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    delivery = shop.harness.webhook_delivery(order.remote_id)
    ctx = shop.ctx()
    with pytest.raises(WebhookRejected, match="does not match"):
        plugin.verify_webhook(ctx, delivery.headers, delivery.body.replace(b"order.written", b"order.deleted"))
    with pytest.raises(WebhookRejected, match="does not match"):
        plugin.verify_webhook(shop.ctx(settings={"webhook_secret": "other"}), delivery.headers, delivery.body)
    with pytest.raises(WebhookRejected, match="without shopware-shop-signature"):
        plugin.verify_webhook(ctx, {"content-type": "application/json"}, delivery.body)
    with pytest.raises(WebhookRejected, match="no webhook_secret"):
        plugin.verify_webhook(shop.ctx(settings={}), delivery.headers, delivery.body)


def test_the_signature_header_is_found_whatever_its_case(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    delivery = shop.harness.webhook_delivery(order.remote_id)
    headers = {"Shopware-Shop-Signature": delivery.headers["shopware-shop-signature"].upper()}
    assert plugin.verify_webhook(shop.ctx(), headers, delivery.body) is True


def test_events_kade_does_not_act_on_are_ignored_and_garbage_is_refused(shop: Shop) -> None:
    body = json.dumps({"data": {"event": "customer.written", "payload": []}, "source": {"eventId": "e1"}}).encode()
    assert plugin.parse_webhook(shop.ctx(), {}, body) is None
    with pytest.raises(WebhookRejected, match="not JSON"):
        plugin.parse_webhook(shop.ctx(), {}, b"\xff{")
    with pytest.raises(WebhookRejected, match="no data object"):
        plugin.parse_webhook(shop.ctx(), {}, b"[1, 2]")
    secret = shop.sim.app_secret.encode()
    odd = json.dumps({"data": {"event": "order.written", "payload": "nope"}, "timestamp": "soon"}).encode()
    headers = {"shopware-shop-signature": hmac.new(secret, odd, hashlib.sha256).hexdigest()}
    assert plugin.verify_webhook(shop.ctx(), headers, odd)
    event = plugin.parse_webhook(shop.ctx(), headers, odd)
    assert event is not None and event.remote_id is None and event.signed_at is None
