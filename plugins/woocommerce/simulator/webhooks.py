"""``/wc/v3/webhooks`` and ``/wc/v3/system_status``."""

from __future__ import annotations

from urllib.parse import urlsplit

from kade.plugins.woocommerce.simulator.models import WEBHOOK_EVENTS, WEBHOOK_RESOURCES, Webhook, WPError
from kade.plugins.woocommerce.simulator.products import ProductsApi
from kade.plugins.woocommerce.simulator.wp import Request, Response


class WebhooksApi(ProductsApi):
    """Webhook and system-status controllers."""


    def _webhook(self, value: str | int) -> Webhook:
        hook = self.sim.webhooks.get(int(value))
        if hook is None:
            raise WPError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return hook

    def list_webhooks(self, request: Request) -> Response:
        self._require(request, "list")
        hooks = sorted(self.sim.webhooks.values(), key=lambda h: h.id, reverse=True)
        return self._page(request, hooks, self.sim.render_webhook)

    def create_webhook(self, request: Request) -> Response:
        self._require(request, "create")
        p = request.params
        topic = str(p["topic"])
        resource, _, event = topic.partition(".")
        valid = (resource in WEBHOOK_RESOURCES and event in WEBHOOK_EVENTS) or (resource == "action" and event)
        if not valid:
            raise WPError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid.")
        url = str(p["delivery_url"])
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise WPError(
                400,
                "woocommerce_rest_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )
        state = self.sim
        hook = Webhook(
            state.next_id("webhook"),
            str(p.get("name") or f"Webhook {topic}"),
            topic,
            url,
            str(p["secret"]),
            str(p.get("status") or "active"),
            state.now(),
        )
        state.webhooks[hook.id] = hook
        if hook.status == "active":
            state.webhook_outbox.append(state._ping(hook))
        return Response(201, state.render_webhook(hook))

    def get_webhook(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_webhook(self._webhook(request.params["id"])))

    def update_webhook(self, request: Request) -> Response:
        self._require(request, "edit")
        hook = self._webhook(request.params["id"])
        body = request.json()
        if "status" in body:
            hook.status = str(body["status"])
            if hook.status == "active":
                hook.failures = 0
        if "secret" in body:
            hook.secret = str(body["secret"])
        return Response(200, self.sim.render_webhook(hook))

    def delete_webhook(self, request: Request) -> Response:
        self._require(request, "delete")
        hook = self._webhook(request.params["id"])
        if not request.params.get("force"):
            raise WPError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        del self.sim.webhooks[hook.id]
        return Response(200, self.sim.render_webhook(hook))

    def system_status(self, request: Request) -> Response:
        self._require(request, "view")
        state = self.sim
        return Response(
            200,
            {
                "environment": {
                    "home_url": "https://shop.example",
                    "site_url": "https://shop.example",
                    "version": state.wc_version,
                    "wp_version": "6.6",
                },
                "settings": {"currency": state.currency, "api_enabled": True},
                "active_plugins": (
                    [
                        {
                            "plugin": "woocommerce-shipment-tracking/woocommerce-shipment-tracking.php",
                            "name": "WooCommerce Shipment Tracking",
                        }
                    ]
                    if state.shipment_tracking
                    else []
                ),
            },
        )

    # Shipment Tracking extension ------------------------------------------------------
