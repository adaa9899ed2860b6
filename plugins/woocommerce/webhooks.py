"""WooCommerce webhooks: the signature WooCommerce puts on each delivery, its unsigned creation
ping, and which topics are orders and products for Kade."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from base64 import b64encode
from collections.abc import Mapping
from typing import Literal
from urllib.parse import parse_qs

from kade.errors import WebhookRejected
from kade.mapping import header
from kade.plugins.woocommerce.mapping import CANCELLED_STATUSES
from kade.types import ConnectionContext, WebhookEvent


def ping_webhook_id(headers: Mapping[str, str], body: bytes) -> str | None:
    """The creation ping: an unsigned form body ``webhook_id=<id>`` and no topic header."""
    if header(headers, "X-WC-Webhook-Topic") is not None:
        return None
    try:
        form = parse_qs(body.decode("ascii"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    values = form.get("webhook_id", [])
    if set(form) == {"webhook_id"} and len(values) == 1 and values[0].isdigit():
        return values[0]
    return None


def _webhook_secret(ctx: ConnectionContext) -> str:
    secret = ctx.credentials.get("webhook_secret") or ctx.settings.get("webhook_secret") or ""
    return str(secret)


def verify(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool:
    """``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(raw body, secret)), compared in constant time."""
    signature = header(headers, "X-WC-Webhook-Signature")
    if signature is None:
        if ping_webhook_id(headers, body) is not None:
            return True  # WooCommerce never signs the creation ping; it carries no data
        raise WebhookRejected("WooCommerce delivery without X-WC-Webhook-Signature")
    secret = _webhook_secret(ctx)
    if not secret:
        raise WebhookRejected("no webhook_secret configured for this WooCommerce connection")
    expected = b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        raise WebhookRejected("WooCommerce webhook signature does not match the body")
    return True


OrderTopic = Literal["order_created", "order_updated", "order_cancelled"]
_ORDER_TOPICS: dict[str, OrderTopic] = {
    "order.created": "order_created",
    "order.updated": "order_updated",
    "order.restored": "order_updated",
}


def parse(headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    """Order and product topics → events; the delivery id is the header plus a body digest.

    ``X-WC-Webhook-Delivery-ID`` is ``wp_hash(webhook id . time())``: two different deliveries
    of one webhook in the same second share it. Adding the body digest keeps a replayed
    delivery identical while distinct payloads stay distinct.
    """
    ping = ping_webhook_id(headers, body)
    if ping is not None:
        return WebhookEvent(delivery_id=f"ping:{ping}", topic="ping")
    topic = header(headers, "X-WC-Webhook-Topic") or ""
    digest = hashlib.sha256(body).hexdigest()[:16]
    delivery = header(headers, "X-WC-Webhook-Delivery-ID") or f"{header(headers, 'X-WC-Webhook-ID')}-{topic}"
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRejected(f"WooCommerce {topic or 'webhook'} delivery body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("WooCommerce webhook body is not a JSON object")
    remote_id = str(payload["id"]) if "id" in payload else None
    delivery_id = f"{delivery}:{digest}"
    if topic == "order.deleted":
        return WebhookEvent(delivery_id=delivery_id, topic="order_cancelled", remote_id=remote_id, payload=payload)
    if topic in _ORDER_TOPICS:
        kind: OrderTopic = "order_cancelled" if payload.get("status") in CANCELLED_STATUSES else _ORDER_TOPICS[topic]
        return WebhookEvent(delivery_id=delivery_id, topic=kind, remote_id=remote_id, payload=payload)
    if re.fullmatch(r"product\.(created|updated|restored)", topic):
        return WebhookEvent(delivery_id=delivery_id, topic="product_updated", remote_id=remote_id, payload=payload)
    return None
