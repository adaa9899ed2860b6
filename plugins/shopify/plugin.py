"""Shopify platform plugin: the Kade hooks on top of the GraphQL Admin API.

Shipments follow rule R8 for Shopify: one ``fulfillmentCreate`` per warehouse shipment, holding
only the shipped fulfillment-order lines and quantities, with its own tracking; the order is
otherwise left alone (Shopify itself moves it to partially fulfilled / fulfilled).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
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
from kade.mapping import MappingError, header
from kade.plugins.shopify.bulkstock import Cursor, read_page, run_export
from kade.plugins.shopify.client import (
    ADMIN_TOKEN,
    AUTH_METHODS,
    CLIENT_CREDENTIALS,
    DEFAULT_MAX_WAIT,
    ShopifyClient,
    shop_domain,
)
from kade.plugins.shopify.cost import requested_cost
from kade.plugins.shopify.mapping import (
    line_nodes,
    order_from_node,
    order_gid_from_rest,
    product_from_variant,
    stock_from_level,
    to_gid,
)
from kade.plugins.shopify.queries import (
    FULFILLMENT_CREATE,
    FULFILLMENT_ORDERS,
    INVENTORY_SET,
    ORDER_CANCEL,
    ORDER_FULFILLMENTS,
    ORDER_LINES,
    ORDER_LINES_PER_PAGE,
    ORDERS,
    PRODUCT_VARIANTS,
    SHOP,
    STOCK_LEVELS,
)
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
    RemoteShipmentState,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

PLATFORM = "shopify"
#: Shopify caps every input array, and so every inventorySetQuantities call, at 250 items.
STOCK_BATCH = 250
PAGE_CAP = 250
MAX_QUERY_COST = 1000
DEFAULT_ORDER_PAGE = 10
PRODUCT_PAGE = 250
STOCK_PAGE = 250
FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})
_LOCATION_CACHE_TTL = 3600.0

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

_STOCK_ERROR_KINDS = {
    "COMPARE_QUANTITY_STALE": "conflict",
    "INVALID_INVENTORY_ITEM": "not_found",
    "ITEM_NOT_STOCKED_AT_LOCATION": "not_found",
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


def _setting_bool(ctx: ConnectionContext, name: str, default: bool) -> bool:
    value = ctx.settings.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return "invalid order: " + "; ".join(parts)
    return str(exc)


def _encode_token(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(data), separators=(",", ":")).encode()).decode()


def _decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise RejectedByStore(f"page token {token!r} was not made by this plugin", code="bad_page_token") from None
    if not isinstance(data, dict):
        raise RejectedByStore(f"page token {token!r} was not made by this plugin", code="bad_page_token")
    return data


def _location_id(ctx: ConnectionContext, client: ShopifyClient) -> str:
    """The connection's location: the setting, or the shop's only active location."""
    configured = ctx.settings.get("location_id")
    if configured:
        try:
            location: str = to_gid("Location", str(configured))
        except MappingError as exc:
            raise RejectedByStore(f"setting location_id: {exc}", code="invalid_setting") from None
        return location
    cache_key = f"shopify:location:{client.domain}"
    cached = ctx.tokens.get(cache_key)
    if cached:
        return cached
    data = client.execute(SHOP)
    active = [loc for loc in data["locations"]["nodes"] if loc.get("isActive")]
    if len(active) != 1:
        names = ", ".join(f"{loc['name']} ({loc['id']})" for loc in active) or "none"
        raise RejectedByStore(
            f"set location_id: the shop has {len(active)} active locations ({names})", code="location_required"
        )
    ctx.tokens.set(cache_key, active[0]["id"], _LOCATION_CACHE_TTL)
    return str(active[0]["id"])


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
        state = _decode_token(query.page_token)
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
    next_token = _encode_token({"q": search, "after": info["endCursor"]}) if info["hasNextPage"] else None
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


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage:
    """The nightly check's read: one bulk export, served page by page (``bulkstock``)."""
    if page_token is None:
        client = ShopifyClient(ctx)
        location = _location_id(ctx, client)
        op = run_export(client, location)
        if not op.get("url"):
            return StockPage()  # COMPLETED without a file: the location stocks nothing
        cursor = Cursor(str(op["url"]), 0, location)
    else:
        cursor = Cursor.from_token(_decode_token(page_token))
    items, following = read_page(ctx.http, cursor)
    return StockPage(items=tuple(items), next_page_token=_encode_token(following.token()) if following else None)


def read_stock_paged(ctx: ConnectionContext, page_token: str | None) -> StockPage:
    """The same read by GraphQL paging (~3 cost points a level): the reference the bulk read is
    tested against, and a way to read a small shop without an export."""
    client = ShopifyClient(ctx)
    location = _location_id(ctx, client)
    data = client.execute(STOCK_LEVELS, {"locationId": location, "first": STOCK_PAGE, "after": page_token})
    if data.get("location") is None:
        raise NotFound(f"Shopify location {location} does not exist")
    conn = data["location"]["inventoryLevels"]
    items = []
    for node in conn["nodes"]:
        try:
            items.append(stock_from_level(node))
        except MappingError:
            continue  # a level without an item cannot be matched to anything
    info = conn["pageInfo"]
    return StockPage(items=tuple(items), next_page_token=info["endCursor"] if info["hasNextPage"] else None)


def _item_index(field: Any) -> int | None:
    """The index of the quantity a userError's ``field`` path (``input.quantities.3.x``) points at."""
    if not isinstance(field, list) or "quantities" not in field:
        return None
    pos = field.index("quantities") + 1
    try:
        return int(field[pos])
    except (IndexError, ValueError):
        return None


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult]:
    if len(updates) > STOCK_BATCH:
        raise RejectedByStore(
            f"{len(updates)} stock updates in one call; Shopify takes {STOCK_BATCH}", code="batch_too_large"
        )
    if not updates:
        return []
    client = ShopifyClient(ctx)
    location = _location_id(ctx, client)
    results: dict[str, StockResult] = {}
    valid: list[tuple[StockUpdate, str]] = []
    for update in updates:
        try:
            valid.append((update, to_gid("InventoryItem", update.remote_product_id)))
        except MappingError as exc:
            results[update.remote_product_id] = StockResult(
                remote_product_id=update.remote_product_id, ok=False, error=str(exc), error_kind="rejected"
            )
    # Compare-and-set where the core knows what we pushed last; plain set otherwise.
    groups = (
        [(u, g) for u, g in valid if u.previous_quantity is not None],
        [(u, g) for u, g in valid if u.previous_quantity is None],
    )
    for group, compare in zip(groups, (True, False), strict=True):
        remaining = group
        while remaining:
            quantities = []
            for update, gid in remaining:
                item: dict[str, Any] = {"inventoryItemId": gid, "locationId": location, "quantity": update.quantity}
                if compare:
                    item["compareQuantity"] = update.previous_quantity
                quantities.append(item)
            data = client.execute(
                INVENTORY_SET,
                {
                    "input": {
                        "name": "available",
                        "reason": "correction",
                        "referenceDocumentUri": f"gid://kade/Connection/{ctx.connection_id}",
                        "ignoreCompareQuantity": not compare,
                        "quantities": quantities,
                    }
                },
            )
            payload = data.get("inventorySetQuantities") or {}
            failed: set[int] = set()
            for error in payload.get("userErrors") or ():
                index = _item_index(error.get("field"))
                if index is None or index >= len(remaining):
                    raise RejectedByStore(
                        f"inventorySetQuantities refused the batch: {error.get('message')}",
                        code=str(error.get("code") or "rejected"),
                    )
                failed.add(index)
                rid = remaining[index][0].remote_product_id
                results[rid] = StockResult(
                    remote_product_id=rid,
                    ok=False,
                    error=f"{error.get('code')}: {error.get('message')}",
                    error_kind=_STOCK_ERROR_KINDS.get(str(error.get("code")), "rejected"),
                )
            group_id = (payload.get("inventoryAdjustmentGroup") or {}).get("id")
            if not failed or group_id is not None:
                for index, (update, _) in enumerate(remaining):
                    if index not in failed:
                        results[update.remote_product_id] = StockResult(
                            remote_product_id=update.remote_product_id, ok=True, remote_reference=group_id
                        )
                break
            # Shopify applies a batch all or nothing: send the rest again without the bad items.
            remaining = [pair for index, pair in enumerate(remaining) if index not in failed]
    return [results[u.remote_product_id] for u in updates]


# -------------------------------------------------------------------------------- shipments


def _order_with_fulfillment_orders(client: ShopifyClient, order_id: str) -> tuple[dict[str, Any], list[Any]]:
    fulfillment_orders: list[Any] = []
    after = None
    while True:
        data = client.execute(FULFILLMENT_ORDERS, {"id": order_id, "after": after})
        order = data.get("order")
        if order is None:
            raise NotFound(f"Shopify order {order_id} does not exist")
        conn = order["fulfillmentOrders"]
        fulfillment_orders.extend(conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            return order, fulfillment_orders
        after = conn["pageInfo"]["endCursor"]


def _cancelled(order: Mapping[str, Any], shipment: ShipmentRequest) -> RejectedByStore:
    state = "cancelled" if order.get("cancelledAt") else "closed"
    return RejectedByStore(f"order {shipment.order_number} is {state} on Shopify", code="order_cancelled")


def _allocate(
    ctx: ConnectionContext, shipment: ShipmentRequest, order: Mapping[str, Any], fos: list[Any]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Spread the shipped quantities over open fulfillment-order lines, grouped by location."""
    preferred = ctx.settings.get("location_id")
    preferred_gid = to_gid("Location", str(preferred)) if preferred else None

    def location_of(fo: Mapping[str, Any]) -> str:
        return str(((fo.get("assignedLocation") or {}).get("location") or {}).get("id") or "")

    open_fos = sorted(
        (fo for fo in fos if fo["status"] in FULFILLABLE), key=lambda fo: location_of(fo) != preferred_gid
    )
    left = {li["id"]: li["remainingQuantity"] for fo in open_fos for li in fo["lineItems"]["nodes"]}
    plan: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for line in shipment.lines:
        need = line.quantity
        for fo in open_fos:
            for fo_line in fo["lineItems"]["nodes"]:
                if need == 0:
                    break
                if fo_line["lineItem"]["id"] != line.remote_line_id or left[fo_line["id"]] <= 0:
                    continue
                take = min(need, left[fo_line["id"]])
                left[fo_line["id"]] -= take
                need -= take
                plan.setdefault(location_of(fo), {}).setdefault(fo["id"], []).append(
                    {"id": fo_line["id"], "quantity": take}
                )
        if need:
            known = [
                (fo, li) for fo in fos for li in fo["lineItems"]["nodes"] if li["lineItem"]["id"] == line.remote_line_id
            ]
            if not known:
                raise RejectedByStore(
                    f"line {line.remote_line_id} is not on order {shipment.order_number}", code="unknown_line"
                )
            if all(fo["status"] == "CANCELLED" for fo, _ in known) and (
                order.get("cancelledAt") or order.get("closed")
            ):
                raise _cancelled(order, shipment)
            remaining = sum(li["remainingQuantity"] for fo, li in known if fo["status"] in FULFILLABLE)
            raise RejectedByStore(
                f"line {line.remote_line_id} ({line.sku or 'no sku'}): {line.quantity} shipped but only "
                f"{remaining} left to fulfil on order {shipment.order_number}",
                code="quantity_exceeds_remaining",
            )
    return plan


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    client = ShopifyClient(ctx)
    order, fos = _order_with_fulfillment_orders(client, shipment.order_remote_id)
    if order.get("cancelledAt"):
        raise _cancelled(order, shipment)
    plan = _allocate(ctx, shipment, order, fos)
    tracking = {
        key: value
        for key, value in (
            ("company", shipment.carrier or None),
            ("number", shipment.tracking_code),
            ("url", shipment.tracking_url if shipment.tracking_code else None),
        )
        if value
    }
    references = []
    for by_fo in plan.values():
        fulfillment: dict[str, Any] = {
            "notifyCustomer": _setting_bool(ctx, "notify_customer", True),
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": lines} for fo_id, lines in by_fo.items()
            ],
        }
        if tracking:
            fulfillment["trackingInfo"] = tracking
        payload = client.execute(FULFILLMENT_CREATE, {"fulfillment": fulfillment})["fulfillmentCreate"] or {}
        errors = payload.get("userErrors") or []
        if errors:
            message = "; ".join(str(e.get("message")) for e in errors)
            current, _ = _order_with_fulfillment_orders(client, shipment.order_remote_id)
            if current.get("cancelledAt") or current.get("closed"):
                raise _cancelled(current, shipment)
            raise RejectedByStore(f"Shopify refused the fulfillment: {message}", code="fulfillment_rejected")
        references.append(str(payload["fulfillment"]["id"]))
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=",".join(references))


@hookimpl
def check_shipment(
    ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
) -> ShipmentResult | None:
    data = ShopifyClient(ctx).execute(ORDER_FULFILLMENTS, {"id": shipment.order_remote_id})
    order = data.get("order")
    if order is None:
        raise NotFound(f"Shopify order {shipment.order_remote_id} does not exist")
    live = [f for f in order["fulfillments"] if f["status"] not in ("CANCELLED", "ERROR", "FAILURE")]
    if remote_reference:
        wanted_ids = set(remote_reference.split(","))
        if wanted_ids & {f["id"] for f in live}:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=remote_reference)
    want: Counter[str] = Counter()
    for line in shipment.lines:
        want[line.remote_line_id] += line.quantity

    def numbers(f: Mapping[str, Any]) -> set[str]:
        return {str(t["number"]) for t in f["trackingInfo"] if t.get("number")}

    if shipment.tracking_code:
        candidates = [f for f in live if shipment.tracking_code in numbers(f)]
    else:
        candidates = [f for f in live if not numbers(f)]
    if shipment.tracking_code:
        got: Counter[str] = Counter()
        for f in candidates:
            for item in f["fulfillmentLineItems"]["nodes"]:
                got[item["lineItem"]["id"]] += int(item.get("quantity") or 0)
        if candidates and got == want:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED,
                                  remote_reference=",".join(f["id"] for f in candidates))
        return None
    for f in candidates:
        got = Counter()
        for item in f["fulfillmentLineItems"]["nodes"]:
            got[item["lineItem"]["id"]] += int(item.get("quantity") or 0)
        if got == want:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=f["id"])
    return None


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
            "refund": _setting_bool(ctx, "cancel_refund", True),
            "restock": _setting_bool(ctx, "cancel_restock", False),
            "notifyCustomer": _setting_bool(ctx, "notify_customer", True),
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
        order, _ = _order_with_fulfillment_orders(client, request.order_remote_id)
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
