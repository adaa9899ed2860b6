"""A stateful WooCommerce store speaking REST API v3, as an ASGI app.

It behaves like a real store where it matters to an integration: WooCommerce's own
authentication (Basic only over HTTPS, one-legged OAuth 1.0a with timestamp window and nonce
replay protection), WP REST argument validation and error bodies, ``X-WP-Total`` paging, the
date-filter semantics of each WooCommerce version (``dates_are_gmt`` from 5.4, ``modified_after``
from 5.8; unknown query arguments are silently ignored, as WP does), order notes, the Shipment
Tracking extension (only when installed), product/variation batches capped at 100 items, the
``/wc-auth/v1`` key-issuing flow, webhook deliveries signed like ``WC_Webhook::deliver`` and
host-level rate limits. Faults come from ``kade.sim.base.Faults`` (at random) and from
``WooState.inject`` (the next matching requests, deterministically).

Everything the outside world would observe but a socket cannot carry in-process (webhook
deliveries, the wc-auth callback POST) is kept on the state object for tests to read or send."""

from __future__ import annotations

from kade.plugins.woocommerce.simulator.app import WooSimulator, create_app
from kade.plugins.woocommerce.simulator.models import (
    BATCH_LIMIT,
    JSON,
    MAX_WEBHOOK_FAILURES,
    OAUTH_WINDOW,
    ORDER_STATUSES,
    TRACKING_PROVIDERS,
    WEBHOOK_EVENTS,
    WEBHOOK_RESOURCES,
    ApiKey,
    AuthCallback,
    LineItem,
    Note,
    Order,
    Product,
    Refund,
    Tracking,
    Webhook,
    WebhookDelivery,
    WPError,
    oauth_base_string,
    oauth_signature,
    wp_json,
)
from kade.plugins.woocommerce.simulator.state import WooState
from kade.plugins.woocommerce.simulator.wp import COLLECTION, Arg, Handler, Request, Response, Route

__all__ = [
    "BATCH_LIMIT",
    "COLLECTION",
    "JSON",
    "MAX_WEBHOOK_FAILURES",
    "OAUTH_WINDOW",
    "ORDER_STATUSES",
    "TRACKING_PROVIDERS",
    "WEBHOOK_EVENTS",
    "WEBHOOK_RESOURCES",
    "ApiKey",
    "Arg",
    "AuthCallback",
    "Handler",
    "LineItem",
    "Note",
    "Order",
    "Product",
    "Refund",
    "Request",
    "Response",
    "Route",
    "Tracking",
    "WPError",
    "Webhook",
    "WebhookDelivery",
    "WooSimulator",
    "WooState",
    "create_app",
    "oauth_base_string",
    "oauth_signature",
    "wp_json",
]
