"""Shopify platform plugin: the Kade hooks on top of the GraphQL Admin API.

This module is what the ``kade`` entry point registers: orders, products, cancellation, the
connection and webhooks live here; stock (``stock``) and shipments (``shipping``) live in their
own modules and are re-exported, since pluggy registers this module's attributes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import UTC
from typing import Any, Literal

from pydantic import ValidationError

from kade.errors import (
    AuthRejected,
    NotFound,
    RejectedByStore,
    WebhookRejected,
)
from kade.hookspecs import hookimpl
from kade.mapping import MappingError, flag_setting, header
from kade.plugins.shopify.client import (
    ADMIN_TOKEN,
    AUTH_METHODS,
    CLIENT_CREDENTIALS,
    DEFAULT_MAX_WAIT,
    ShopifyClient,
    shop_domain,
)
from kade.plugins.shopify.common import decode_token, encode_token
from kade.plugins.shopify.cost import requested_cost
from kade.plugins.shopify.mapping import (
    line_nodes,
    order_from_node,
    order_gid_from_rest,
    product_from_variant,
    to_gid,
)
from kade.plugins.shopify.queries import (
    ORDER_CANCEL,
    ORDER_LINES,
    ORDER_LINES_PER_PAGE,
    ORDERS,
    PRODUCT_VARIANTS,
    SHOP,
)
from kade.plugins.shopify.shipping import check_shipment as check_shipment
from kade.plugins.shopify.shipping import order_with_fulfillment_orders
from kade.plugins.shopify.shipping import report_shipment as report_shipment
from kade.plugins.shopify.stock import STOCK_BATCH as STOCK_BATCH
from kade.plugins.shopify.stock import STOCK_PAGE as STOCK_PAGE
from kade.plugins.shopify.stock import push_stock as push_stock
from kade.plugins.shopify.stock import read_stock as read_stock
from kade.plugins.shopify.stock import read_stock_paged as read_stock_paged
from kade.types import (
    CancelRequest,
    CancelResult,
    Capabilities,
    ConnectionContext,
    ConnectionTestResult,
    MigrationResult,
    OrderPage,
    OrderQuery,
    PlatformSpec,
    ProductPage,
    RejectedRecord,
    SettingSpec,
    WebhookEvent,
)

PLATFORM = "shopify"
#: Shopify caps every input array, and so every inventorySetQuantities call, at 250 items.
PAGE_CAP = 250
MAX_QUERY_COST = 1000
DEFAULT_ORDER_PAGE = 10
PRODUCT_PAGE = 250

WebhookTopic = Literal["order_created", "order_updated", "order_cancelled", "product_updated", "ping"]

_WEBHOOK_TOPICS: dict[str, WebhookTopic] = {
    "orders/create": "order_created",
    "orders/updated": "order_updated",
    "orders/edited": "order_updated",
    "orders/paid": "order_updated",
    "orders/fulfilled": "order_updated",
    "orders/partially_fulfilled": "order_updated",
    "orders/cancelled": "order_cancelled",
    "products/create": "product_updated",
    "products/update": "product_updated",
}

_CANCEL_REASONS = {
    "out_of_stock": "INVENTORY",
    "inventory": "INVENTORY",
    "customer": "CUSTOMER",
    "customer_request": "CUSTOMER",
    "fraud": "FRAUD",
    "declined": "DECLINED",
    "staff": "STAFF",
}


@hookimpl
def kade_register_platforms() -> Iterable[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM,
        title="Shopify",
        auth_methods=AUTH_METHODS,
        default_auth_method=CLIENT_CREDENTIALS,
        capabilities=Capabilities(
            partial_shipments=True,
            tracking="every",
            stock_batch_size=STOCK_BATCH,
            stock_read=True,
            webhooks=True,
            cancel_order=True,
        ),
        settings=(
            SettingSpec(
                name="shop_domain",
                description="the shop's myshopify.com domain (default: the host of the base URL); "
                "webhooks from any other shop are refused",
            ),
            SettingSpec(
                name="location_id",
                description="the Shopify location (id or gid) this warehouse stocks and ships from; "
                "may be left empty when the shop has a single active location",
            ),
            SettingSpec(
                name="notify_customer",
                type="bool",
                default=True,
                description="let Shopify e-mail the customer for every fulfillment",
            ),
            SettingSpec(
                name="order_page_size",
                type="int",
                default=DEFAULT_ORDER_PAGE,
                description="orders per page; capped so a page stays under Shopify's query cost limit",
            ),
            SettingSpec(
                name="max_throttle_wait",
                type="int",
                default=int(DEFAULT_MAX_WAIT),
                description="seconds to wait for Shopify's cost bucket before handing back RateLimited",
            ),
            SettingSpec(
                name="cancel_refund",
                type="bool",
                default=True,
                description="refund the payment when the warehouse cancels an order",
            ),
            SettingSpec(
                name="cancel_restock",
                type="bool",
                default=False,
                description="restock Shopify inventory when the warehouse cancels (Kade pushes stock anyway)",
            ),
        ),
        credential_fields={
            ADMIN_TOKEN: ("access_token", "client_secret"),
            CLIENT_CREDENTIALS: ("client_id", "client_secret"),
        },
    )


# -------------------------------------------------------------------------------- helpers


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return "invalid order: " + "; ".join(parts)
    return str(exc)


# -------------------------------------------------------------------------------- orders


def _order_page_size(ctx: ConnectionContext) -> int:
    wanted = int(ctx.settings.get("order_page_size", DEFAULT_ORDER_PAGE) or DEFAULT_ORDER_PAGE)
    base: int = requested_cost(ORDERS.document, {"first": 0, "lineItems": ORDER_LINES_PER_PAGE})
    per_order: int = requested_cost(ORDERS.document, {"first": 1, "lineItems": ORDER_LINES_PER_PAGE}) - base
    return max(1, min(wanted, PAGE_CAP, (MAX_QUERY_COST - base) // per_order))


def _remaining_lines(client: ShopifyClient, order_id: str, after: str | None) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    while True:
        data = client.execute(ORDER_LINES, {"id": order_id, "after": after})
        order = data.get("order")
        if order is None:
            raise MappingError(f"order {order_id} disappeared while reading its line items")
        conn = order["lineItems"]
        lines.extend(conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            return lines
        after = conn["pageInfo"]["endCursor"]


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
    client = ShopifyClient(ctx)
    if query.page_token:
        state = decode_token(query.page_token)
        search, after = state.get("q"), state.get("after")
    else:
        if query.since is not None:
            since = query.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            # ">=" because Shopify timestamps have whole seconds: an order changed in the same
            # second as the last one seen must not be skipped (re-imports are upserts).
            search = f"updated_at:>='{since}'"
        else:
            search = "status:open"
        after = None
    data = client.execute(
        ORDERS,
        {"first": _order_page_size(ctx), "after": after, "query": search, "lineItems": ORDER_LINES_PER_PAGE},
    )
    conn = data["orders"]
    orders = []
    rejected = []
    for node in conn["nodes"]:
        try:
            lines = line_nodes(node)  # refuses a node that is no order object
            page = (node.get("lineItems") or {}).get("pageInfo")
            if isinstance(page, dict) and page.get("hasNextPage"):
                lines.extend(_remaining_lines(client, node["id"], page.get("endCursor")))
            orders.append(order_from_node(node, lines))
        except (ValueError, TypeError, KeyError) as exc:
            remote_id = node.get("id") or node.get("name") or "unknown"
            rejected.append(RejectedRecord(remote_id=str(remote_id), reason=_reason(exc), raw=node))
    info = conn["pageInfo"]
    next_token = encode_token({"q": search, "after": info["endCursor"]}) if info["hasNextPage"] else None
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected), next_page_token=next_token)


# -------------------------------------------------------------------------------- products and stock


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage:
    data = ShopifyClient(ctx).execute(PRODUCT_VARIANTS, {"first": PRODUCT_PAGE, "after": page_token})
    conn = data["productVariants"]
    products = []
    rejected = []
    for node in conn["nodes"]:
        try:
            products.append(product_from_variant(node))
        except (ValueError, TypeError) as exc:
            rejected.append(RejectedRecord(remote_id=str(node.get("id")), reason=_reason(exc), raw=node))
    info = conn["pageInfo"]
    return ProductPage(
        products=tuple(products),
        rejected=tuple(rejected),
        next_page_token=info["endCursor"] if info["hasNextPage"] else None,
    )


# -------------------------------------------------------------------------------- cancellations


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    if request.lines:
        raise RejectedByStore(
            f"Shopify's orderCancel cancels whole orders; order {request.order_number} has lines to keep",
            code="partial_cancel_unsupported",
        )
    client = ShopifyClient(ctx)
    data = client.execute(
        ORDER_CANCEL,
        {
            "orderId": request.order_remote_id,
            "reason": _CANCEL_REASONS.get(request.reason.lower(), "OTHER"),
            "refund": flag_setting(ctx.settings, "cancel_refund", True),
            "restock": flag_setting(ctx.settings, "cancel_restock", False),
            "notifyCustomer": flag_setting(ctx.settings, "notify_customer", True),
            "staffNote": f"Cancelled by the warehouse (Kade): {request.reason}",
        },
    )
    payload = data.get("orderCancel") or {}
    errors = list(payload.get("orderCancelUserErrors") or []) + list(payload.get("userErrors") or [])
    if errors:
        codes = {str(e.get("code")) for e in errors if e.get("code")}
        message = "; ".join(str(e.get("message")) for e in errors)
        if "NOT_FOUND" in codes:
            raise NotFound(f"order {request.order_number}: {message}")
        # Cancelling twice is not an error for Kade: a retry after a lost answer lands here.
        order, _ = order_with_fulfillment_orders(client, request.order_remote_id)
        if order.get("cancelledAt"):
            return CancelResult(ok=True, remote_reference=None)
        raise RejectedByStore(
            f"Shopify refused to cancel order {request.order_number}: {message}",
            code=next(iter(sorted(codes)), "cancel_rejected"),
        )
    job = payload.get("job") or {}
    return CancelResult(ok=True, remote_reference=job.get("id"))


# -------------------------------------------------------------------------------- connection


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult:
    data = ShopifyClient(ctx).execute(SHOP)
    shop = data["shop"]
    locations = data["locations"]["nodes"]
    message = f"connected to {shop['name']} ({shop['myshopifyDomain']}, {shop['currencyCode']})"
    configured = ctx.settings.get("location_id")
    if configured:
        try:
            gid = to_gid("Location", str(configured))
        except MappingError as exc:
            return ConnectionTestResult(ok=False, message=f"{message}; location_id: {exc}")
        match = next((loc for loc in locations if loc["id"] == gid), None)
        if match is None or not match["isActive"]:
            return ConnectionTestResult(ok=False, message=f"{message}; location {gid} is not an active location")
        message += f"; location {match['name']}"
    return ConnectionTestResult(ok=True, message=message)


@hookimpl
def migrate_connection(
    ctx: ConnectionContext, target_auth_method: str, new_credentials: Mapping[str, str]
) -> MigrationResult:
    if target_auth_method not in AUTH_METHODS:
        raise RejectedByStore(
            f"Shopify has no auth method {target_auth_method!r} (use one of {', '.join(AUTH_METHODS)})",
            code="unsupported_auth_method",
        )
    credentials = {k: v for k, v in new_credentials.items() if v}
    # The app secret signs webhooks: keep verifying them when moving to a static token. A
    # client-credentials app proves itself with its own secret, so that one is never carried over.
    if (
        target_auth_method == ADMIN_TOKEN
        and "client_secret" not in credentials
        and ctx.credentials.get("client_secret")
    ):
        credentials["client_secret"] = ctx.credentials["client_secret"]
    client = ShopifyClient(ctx, auth_method=target_auth_method, credentials=credentials)
    if target_auth_method == CLIENT_CREDENTIALS:
        client.fresh_token()
    shop = client.execute(SHOP)["shop"]
    expected = shop_domain(ctx)
    if str(shop["myshopifyDomain"]).lower() != expected:
        raise AuthRejected(
            f"the new credentials belong to {shop['myshopifyDomain']}, not {expected}", code="wrong_shop"
        )
    return MigrationResult(
        auth_method=target_auth_method,
        credentials=credentials,
        message=f"verified {target_auth_method} against {shop['name']} ({shop['myshopifyDomain']})",
    )


# -------------------------------------------------------------------------------- webhooks


@hookimpl
def verify_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool:
    signature = header(headers, "X-Shopify-Hmac-Sha256")
    if not signature:
        raise WebhookRejected("the delivery has no X-Shopify-Hmac-Sha256 header")
    secrets = [s for s in (ctx.credentials.get("client_secret"), ctx.credentials.get("previous_client_secret")) if s]
    if not secrets:
        raise WebhookRejected("the connection has no client_secret to verify webhooks with")
    given = signature.strip().encode()
    # Shopify may keep signing with the old secret for up to an hour after a rotation.
    if not any(
        hmac.compare_digest(base64.b64encode(hmac.new(s.encode(), body, hashlib.sha256).digest()), given)
        for s in secrets
    ):
        raise WebhookRejected("the X-Shopify-Hmac-Sha256 signature does not match the body")
    domain = header(headers, "X-Shopify-Shop-Domain")
    if domain is not None and domain.strip().lower() != shop_domain(ctx):
        raise WebhookRejected(f"the delivery is for {domain}, not {shop_domain(ctx)}")
    return True


@hookimpl
def parse_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    topic = (header(headers, "X-Shopify-Topic") or "").strip().lower()
    kind = _WEBHOOK_TOPICS.get(topic)
    if kind is None:
        return None
    delivery_id = header(headers, "X-Shopify-Webhook-Id")
    if not delivery_id:
        raise WebhookRejected("the delivery has no X-Shopify-Webhook-Id header")
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRejected(f"the {topic} delivery body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(f"the {topic} delivery body is not a JSON object")
    if kind == "product_updated":
        gid = payload.get("admin_graphql_api_id")
        remote_id = gid if isinstance(gid, str) else None
    else:
        remote_id = order_gid_from_rest(payload)
    return WebhookEvent(delivery_id=delivery_id, topic=kind, remote_id=remote_id, payload=payload)
