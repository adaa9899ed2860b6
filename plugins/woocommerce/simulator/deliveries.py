"""Webhook deliveries, signed like ``WC_Webhook::deliver``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

from kade.plugins.woocommerce.simulator.models import (
    JSON,
    MAX_WEBHOOK_FAILURES,
    Order,
    Product,
    Webhook,
    WebhookDelivery,
    wp_json,
)
from kade.plugins.woocommerce.simulator.views import ViewState


class DeliveryState(ViewState):
    """Queues, signs and sends webhook deliveries."""

    def emit(self, topic: str, order_or_product: Order | Product) -> None:
        """Queue a delivery for every active webhook subscribed to ``topic``."""
        for hook in self.webhooks.values():
            if hook.status != "active" or hook.topic != topic:
                continue
            if topic.endswith(".deleted"):
                payload: JSON = {"id": order_or_product.id}
            elif isinstance(order_or_product, Order):
                payload = self.render_order(order_or_product)
            else:
                payload = self.render_product(order_or_product)
            self.webhook_outbox.append(self._signed_delivery(hook, payload))

    def delete_order(self, order: Order) -> None:
        """Move an order to the trash in wp-admin (fires ``order.deleted``)."""
        with self.lock:
            order.status = "trash"
            order.modified = self.now()
            self.emit("order.deleted", order)

    def _signed_delivery(self, hook: Webhook, payload: JSON) -> WebhookDelivery:
        body = wp_json(payload)
        resource, _, event = hook.topic.partition(".")
        signature = base64.b64encode(hmac.new(hook.secret.encode(), body, hashlib.sha256).digest()).decode()
        # wp_hash( $webhook_id . strtotime( 'now' ) ): second resolution, new for every attempt
        delivery_id = hmac.new(b"wp-salt", f"{hook.id}{int(self.clock.now())}".encode(), hashlib.md5).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"WooCommerce/{self.wc_version} Hookshot (WordPress/6.6)",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": hook.topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": str(hook.id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        return WebhookDelivery(hook.id, hook.delivery_url, headers, body, hook.topic)

    def _ping(self, hook: Webhook) -> WebhookDelivery:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"WooCommerce/{self.wc_version} Hookshot (WordPress/6.6)",
        }
        return WebhookDelivery(hook.id, hook.delivery_url, headers, f"webhook_id={hook.id}".encode(), "")

    def deliver_webhooks(self, send: Callable[[WebhookDelivery], int]) -> list[WebhookDelivery]:
        """Run the queued deliveries through ``send`` (returns the receiver's status code).

        200-302 counts as delivered; after more than five consecutive failures the webhook is
        disabled, as ``WC_Webhook::failed_delivery`` does.
        """
        with self.lock:
            pending, self.webhook_outbox = self.webhook_outbox, []
        for delivery in pending:
            delivery.status_code = send(delivery)
            with self.lock:
                self.webhook_log.append(delivery)
                hook = self.webhooks.get(delivery.webhook_id)
                if hook is None or not delivery.topic:
                    continue
                if 200 <= delivery.status_code <= 302:
                    hook.failures = 0
                else:
                    hook.failures += 1
                    if hook.failures > MAX_WEBHOOK_FAILURES:
                        hook.status = "disabled"
        return pending

