"""Webhook creation, signed deliveries, verification and topics."""

from __future__ import annotations

import pytest

from kade.errors import WebhookRejected
from kade.plugins.lightspeed import plugin as ls
from kade.plugins.lightspeed.client import LightspeedClient


def _subscribe(ctx, group: str = "orders") -> None:
    LightspeedClient(ctx).request("POST", "webhooks", body={"webhook": {
        "isActive": True, "itemGroup": group, "itemAction": "*", "language": "nl", "format": "json",
        "address": "https://kade.example/hooks/lightspeed"}})


def test_order_deliveries_verify_and_parse(ctx, state, shop) -> None:
    _subscribe(ctx)
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    state.cancel_order(order)
    created, cancelled = state.deliveries
    for delivery in (created, cancelled):
        assert ls.verify_webhook(ctx, delivery.headers, delivery.body) is True
    first = ls.parse_webhook(ctx, created.headers, created.body)
    last = ls.parse_webhook(ctx, cancelled.headers, cancelled.body)
    assert first is not None and (first.topic, first.remote_id) == ("order_created", str(order.id))
    assert last is not None and last.topic == "order_cancelled"
    assert first.delivery_id != last.delivery_id
    assert ls.parse_webhook(ctx, created.headers, created.body).delivery_id == first.delivery_id


def test_a_tampered_or_unsigned_delivery_is_rejected(ctx, state, shop) -> None:
    _subscribe(ctx)
    state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    [delivery] = state.deliveries
    with pytest.raises(WebhookRejected, match="does not match"):
        ls.verify_webhook(ctx, delivery.headers, delivery.body.replace(b'"paid"', b'"not_paid"'))
    unsigned = {k: v for k, v in delivery.headers.items() if k != "X-Signature"}
    with pytest.raises(WebhookRejected, match="without X-Signature"):
        ls.verify_webhook(ctx, unsigned, delivery.body)


def test_app_logins_verify_with_the_app_secret(make_ctx, state, shop) -> None:
    app = state.register_app()
    token = state.install_app(app, shop)
    ctx = make_ctx(auth_method="app", credentials={"app_key": app.key, "app_secret": app.secret, "shop_token": token})
    _subscribe(ctx, "variants")
    variant = state.add_variant(shop, sku="A")
    ls.push_stock(ctx, [ls.StockUpdate(remote_product_id=str(variant.id), quantity=3)])
    [delivery] = state.deliveries
    assert ls.verify_webhook(ctx, delivery.headers, delivery.body) is True
    event = ls.parse_webhook(ctx, delivery.headers, delivery.body)
    assert event is not None and (event.topic, event.remote_id) == ("product_updated", str(variant.id))


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{}", b'{"order": 3}'])
def test_garbage_bodies_are_rejected_clearly(ctx, body: bytes) -> None:
    with pytest.raises(WebhookRejected):
        ls.parse_webhook(ctx, {"X-Item-Group": "orders"}, body)


def test_webhook_address_must_be_https(ctx) -> None:
    with pytest.raises(ls.RejectedByStore, match="https://"):
        LightspeedClient(ctx).request("POST", "webhooks", body={"webhook": {
            "itemGroup": "orders", "itemAction": "*", "address": "http://kade.example/hook"}})


def test_the_kind_is_read_from_the_body_without_group_headers(ctx, state, shop) -> None:
    _subscribe(ctx)
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    [delivery] = state.deliveries
    bare = {"X-Signature": delivery.headers["X-Signature"]}
    assert ls.verify_webhook(ctx, bare, delivery.body) is True
    event = ls.parse_webhook(ctx, bare, delivery.body)
    assert event is not None and (event.topic, event.remote_id) == ("order_updated", str(order.id))
