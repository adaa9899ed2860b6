"""The resources the simulated API serves (paths without language and ``.json``).

Lists page with ``page`` (1-based) and ``limit`` (default 50, at most 250) and are ordered by
id; ``orders`` filters on ``updated_at_min/max``, ``created_at_min/max``, ``since_id`` and
``status``; ``variants`` on ``sku``, ``ean`` and ``articleCode``. Writes are validated field by
field: an unknown field or a bad value is a 400 naming it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from kade.plugins.lightspeed.simulator.app import ApiError, Handler, Request, Response
from kade.plugins.lightspeed.simulator.render import (
    render_order,
    render_order_product,
    render_shipment,
    render_shipment_products,
    render_variant,
)
from kade.plugins.lightspeed.simulator.state import (
    ORDER_STATUSES,
    PAYMENT_STATUSES,
    SHIPMENT_STATUSES,
    STOCK_TRACKING,
    WEBHOOK_ACTIONS,
    WEBHOOK_GROUPS,
    LightspeedState,
    Order,
    Shipment,
    Variant,
    Webhook,
)

MAX_LIMIT = 250
T = TypeVar("T")


def _date(request: Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: {raw!r} is not a date") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _page(state: LightspeedState, request: Request, items: list[T]) -> list[T]:
    limit = request.int_arg("limit", state.page_default, high=MAX_LIMIT)
    page = request.int_arg("page", 1)
    return items[(page - 1) * limit: page * limit]


def _order(state: LightspeedState, request: Request) -> Order:
    order = state.orders.get(int(request.match["id"]))
    if order is None or order.shop_id != request.shop_id:
        raise ApiError(404, "Order not found")
    return order


def _shipment(state: LightspeedState, request: Request) -> Shipment:
    shipment = state.shipments.get(int(request.match["id"]))
    if shipment is None or state.orders[shipment.order_id].shop_id != request.shop_id:
        raise ApiError(404, "Shipment not found")
    return shipment


def _variant(state: LightspeedState, request: Request) -> Variant:
    variant = state.variants.get(int(request.match["id"]))
    if variant is None or variant.shop_id != request.shop_id:
        raise ApiError(404, "Variant not found")
    return variant


def _check_fields(body: dict[str, Any], allowed: dict[str, Callable[[Any], bool]], what: str) -> None:
    for name, value in body.items():
        check = allowed.get(name)
        if check is None:
            raise ApiError(400, f"Unknown or read-only {what} field {name!r}")
        if not check(value):
            raise ApiError(400, f"Invalid value for {what} field {name!r}: {value!r}")


def _one_of(values: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in values


def _text(v: Any) -> bool:
    return isinstance(v, str) and len(v) <= 255


def _flag(v: Any) -> bool:
    return isinstance(v, bool)


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -1_000_000 < v < 1_000_000


# ---------------------------------------------------------------------------------------------- account


def get_shop(state: LightspeedState, request: Request) -> Response:
    shop = state.shops[request.shop_id]
    return Response(200, {"shop": {"id": shop.id, "title": f"Shop {shop.id}", "mainLanguage": shop.languages[0],
                                   "languages": list(shop.languages), "currency": shop.currency}})


def get_account(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"account": {"id": request.shop_id, "app": request.budget_key.startswith("app:"),
                                      "apiKey": request.budget_key.split(":")[1]}})


def get_ratelimit(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"accountRatelimit": state.limiter.account(request.budget_key)})


# ---------------------------------------------------------------------------------------------- orders


def _filtered_orders(state: LightspeedState, request: Request) -> list[Order]:
    bounds = {name: _date(request, name) for name in
              ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max")}
    since_id = request.int_arg("since_id", 0, low=0)
    status = request.query.get("status")
    if status and status not in ORDER_STATUSES:
        raise ApiError(400, f"Invalid value for status: {status!r}")
    out = []
    for order in sorted(state.orders.values(), key=lambda o: o.id):
        if order.shop_id != request.shop_id or order.id <= since_id or (status and order.status != status):
            continue
        lo, hi = bounds["updated_at_min"], bounds["updated_at_max"]
        if (lo and order.updated_at < lo) or (hi and order.updated_at > hi):
            continue
        lo, hi = bounds["created_at_min"], bounds["created_at_max"]
        if (lo and order.created_at < lo) or (hi and order.created_at > hi):
            continue
        out.append(order)
    return out


def list_orders(state: LightspeedState, request: Request) -> Response:
    orders = _page(state, request, _filtered_orders(state, request))
    return Response(200, {"orders": [render_order(state, o, request.language) for o in orders]})


def count_orders(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"count": len(_filtered_orders(state, request))})


def get_order(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"order": render_order(state, _order(state, request), request.language)})


ORDER_FIELDS = {"status": _one_of(ORDER_STATUSES), "paymentStatus": _one_of(PAYMENT_STATUSES),
                "shipmentStatus": _one_of(SHIPMENT_STATUSES), "memo": _text, "doNotifyCancelled": _flag,
                "doNotifyShipped": _flag}


def update_order(state: LightspeedState, request: Request) -> Response:
    order = _order(state, request)
    body = request.json("order")
    _check_fields(body, ORDER_FIELDS, "order")
    if order.status == "cancelled" and body.get("shipmentStatus") == "shipped":
        raise ApiError(400, f"Order {order.number} is cancelled and cannot be shipped")
    if "memo" in body:
        order.memo = body["memo"]
    if "paymentStatus" in body:
        order.payment_status = body["paymentStatus"]
    if body.get("status") == "cancelled" and order.status != "cancelled":
        if order.shipment_status == "shipped":
            raise ApiError(400, f"Order {order.number} is shipped and cannot be cancelled")
        state.cancel_order(order)
    elif "status" in body:
        order.status = body["status"]
    if body.get("shipmentStatus") == "shipped":
        shipments = state.order_shipments(order.id)
        for shipment in shipments:
            if shipment.status != "shipped":
                state.mark_shipped(shipment)
        if not shipments:
            order.shipment_status, order.status = "shipped", "completed_shipped"
    elif "shipmentStatus" in body:
        order.shipment_status = body["shipmentStatus"]
    state.touch(order)
    return Response(200, {"order": render_order(state, order, request.language)})


def order_products(state: LightspeedState, request: Request) -> Response:
    order = _order(state, request)
    items = [render_order_product(state, order, i, request.language) for i in range(len(order.products))]
    return Response(200, {"orderProducts": _page(state, request, items)})


# ---------------------------------------------------------------------------------------------- shipments


def list_shipments(state: LightspeedState, request: Request) -> Response:
    order_id = request.int_arg("order", 0, low=0)
    shipments = [s for s in sorted(state.shipments.values(), key=lambda s: s.id)
                 if state.orders[s.order_id].shop_id == request.shop_id and (not order_id or s.order_id == order_id)]
    return Response(200, {"shipments": [render_shipment(state, s, request.language)
                                        for s in _page(state, request, shipments)]})


def get_shipment(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"shipment": render_shipment(state, _shipment(state, request), request.language)})


SHIPMENT_FIELDS = {"status": _one_of(("not_shipped", "shipped", "cancelled")), "trackingCode": _text,
                   "trackingUrl": _text, "carrier": _text, "doNotifyShipped": _flag, "doNotifyTrackingCode": _flag,
                   "doNotifyReadyForPickup": _flag}


def update_shipment(state: LightspeedState, request: Request) -> Response:
    shipment = _shipment(state, request)
    body = request.json("shipment")
    _check_fields(body, SHIPMENT_FIELDS, "shipment")
    order = state.orders[shipment.order_id]
    if order.status == "cancelled" and body.get("status") == "shipped":
        raise ApiError(400, f"Order {order.number} is cancelled and cannot be shipped")
    shipment.tracking_code = body.get("trackingCode", shipment.tracking_code)
    shipment.tracking_url = body.get("trackingUrl", shipment.tracking_url)
    shipment.carrier = body.get("carrier", shipment.carrier)
    shipment.do_notify_shipped = body.get("doNotifyShipped", shipment.do_notify_shipped)
    shipment.updated_at = state.now()
    if body.get("status") == "shipped" and shipment.status != "shipped":
        state.mark_shipped(shipment)
    elif "status" in body and body["status"] != "shipped":
        shipment.status = body["status"]
        state.sync_order_shipment(order)
    return Response(200, {"shipment": render_shipment(state, shipment, request.language)})


def shipment_products(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"shipmentProducts": render_shipment_products(state, _shipment(state, request))})


# ---------------------------------------------------------------------------------------------- variants


def _filtered_variants(state: LightspeedState, request: Request) -> list[Variant]:
    wanted = {f: request.query[q] for q, f in (("sku", "sku"), ("ean", "ean"), ("articleCode", "article_code"))
              if request.query.get(q)}
    return sorted((v for v in state.shop_variants(request.shop_id)
                   if all(getattr(v, f) == value for f, value in wanted.items())), key=lambda v: v.id)


def list_variants(state: LightspeedState, request: Request) -> Response:
    variants = _page(state, request, _filtered_variants(state, request))
    return Response(200, {"variants": [render_variant(state, v, request.language) for v in variants]})


def count_variants(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"count": len(_filtered_variants(state, request))})


def get_variant(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"variant": render_variant(state, _variant(state, request), request.language)})


VARIANT_FIELDS = {"stockLevel": _whole, "stockTracking": _one_of(STOCK_TRACKING), "stockAlert": _whole,
                  "stockMinimum": _whole, "sku": _text, "ean": _text, "articleCode": _text}


def update_variant(state: LightspeedState, request: Request) -> Response:
    variant = _variant(state, request)
    body = request.json("variant")
    _check_fields(body, VARIANT_FIELDS, "variant")
    if "stockTracking" in body:
        variant.stock_tracking = body["stockTracking"]
    if "stockLevel" in body:
        variant.stock_level = body["stockLevel"]
    for field, attr in (("sku", "sku"), ("ean", "ean"), ("articleCode", "article_code")):
        if field in body:
            setattr(variant, attr, body[field])
    variant.updated_at = state.now()
    state.emit(variant.shop_id, "variants", "updated", variant)
    return Response(200, {"variant": render_variant(state, variant, request.language)})


# ---------------------------------------------------------------------------------------------- webhooks


def _render_hook(hook: Webhook) -> dict[str, Any]:
    return {"id": hook.id, "isActive": hook.is_active, "itemGroup": hook.item_group, "itemAction": hook.item_action,
            "language": {"code": hook.language}, "format": hook.format, "address": hook.address}


WEBHOOK_FIELDS = {"isActive": _flag, "itemGroup": _one_of(WEBHOOK_GROUPS), "itemAction": _one_of(WEBHOOK_ACTIONS),
                  "language": _text, "format": _one_of(("json", "xml")), "address": _text}


def _webhook(state: LightspeedState, request: Request) -> Webhook:
    hook = state.webhooks.get(int(request.match["id"]))
    if hook is None or hook.shop_id != request.shop_id:
        raise ApiError(404, "Webhook not found")
    return hook


def list_webhooks(state: LightspeedState, request: Request) -> Response:
    hooks = [h for h in state.webhooks.values() if h.shop_id == request.shop_id]
    return Response(200, {"webhooks": [_render_hook(h) for h in _page(state, request, hooks)]})


def create_webhook(state: LightspeedState, request: Request) -> Response:
    body = request.json("webhook")
    _check_fields(body, WEBHOOK_FIELDS, "webhook")
    missing = [f for f in ("itemGroup", "itemAction", "address") if f not in body]
    if missing:
        raise ApiError(400, f"Missing webhook field(s): {', '.join(missing)}")
    if not str(body["address"]).startswith("https://"):
        raise ApiError(400, "Webhook address must be an https:// URL")
    language = body.get("language", request.language)
    if language not in state.shops[request.shop_id].languages:
        raise ApiError(400, f"Invalid webhook language {language!r}")
    hook = Webhook(id=state.next_id("webhook"), shop_id=request.shop_id, item_group=body["itemGroup"],
                   item_action=body["itemAction"], language=language, address=body["address"],
                   secret=state.secret_for(request.budget_key),
                   format=body.get("format", "json"), is_active=body.get("isActive", True))
    state.webhooks[hook.id] = hook
    return Response(201, {"webhook": _render_hook(hook)})


def get_webhook(state: LightspeedState, request: Request) -> Response:
    return Response(200, {"webhook": _render_hook(_webhook(state, request))})


def update_webhook(state: LightspeedState, request: Request) -> Response:
    hook = _webhook(state, request)
    body = request.json("webhook")
    _check_fields(body, WEBHOOK_FIELDS, "webhook")
    hook.is_active = body.get("isActive", hook.is_active)
    hook.address = body.get("address", hook.address)
    hook.item_action = body.get("itemAction", hook.item_action)
    return Response(200, {"webhook": _render_hook(hook)})


def delete_webhook(state: LightspeedState, request: Request) -> Response:
    hook = _webhook(state, request)
    del state.webhooks[hook.id]
    return Response(204, {})


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "shop", get_shop),
    ("GET", "account", get_account),
    ("GET", "account/ratelimit", get_ratelimit),
    ("GET", "orders", list_orders),
    ("GET", "orders/count", count_orders),
    ("GET", r"orders/(?P<id>\d+)", get_order),
    ("PUT", r"orders/(?P<id>\d+)", update_order),
    ("GET", r"orders/(?P<id>\d+)/products", order_products),
    ("GET", "shipments", list_shipments),
    ("GET", r"shipments/(?P<id>\d+)", get_shipment),
    ("PUT", r"shipments/(?P<id>\d+)", update_shipment),
    ("GET", r"shipments/(?P<id>\d+)/products", shipment_products),
    ("GET", "variants", list_variants),
    ("GET", "variants/count", count_variants),
    ("GET", r"variants/(?P<id>\d+)", get_variant),
    ("PUT", r"variants/(?P<id>\d+)", update_variant),
    ("GET", "webhooks", list_webhooks),
    ("POST", "webhooks", create_webhook),
    ("GET", r"webhooks/(?P<id>\d+)", get_webhook),
    ("PUT", r"webhooks/(?P<id>\d+)", update_webhook),
    ("DELETE", r"webhooks/(?P<id>\d+)", delete_webhook),
]
