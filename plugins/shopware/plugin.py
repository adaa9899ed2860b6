"""The Shopware 6 platform plugin (Admin API).

* Orders: ``POST /api/search/order`` with a Criteria body — changed since the last import
  (``updatedAt`` or, for orders nobody touched yet, ``createdAt``), paged, with the associations
  whose states Shopware 6.6 otherwise leaves null.
* Shipments: tracking codes appended to the order's primary delivery (a PATCH replaces the list,
  so it is read, appended, written), then the delivery's state machine: ``ship_partially`` for the
  first partial shipment, ``ship`` for the one that completes the order. There is no item list
  (R8). Each shipment's idempotency key is kept in the delivery's ``customFields`` so a lost
  answer can be checked.
* Cancellation: the order's ``cancel`` transition. Stock: Sync API upserts of ``stock``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RejectedByStore, TransientError, WebhookRejected
from kade.hookspecs import hookimpl
from kade.mapping import MappingError, header
from kade.plugins.shopware.auth import AUTH_METHODS, CLIENT_CREDENTIALS, CREDENTIAL_FIELDS, request_token
from kade.plugins.shopware.client import ShopwareClient
from kade.plugins.shopware.mapping import (
    delivery_state,
    manages_stock,
    order_criteria,
    order_state,
    primary_delivery,
    product_criteria,
    to_remote_order,
    to_remote_product,
    to_remote_stock,
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
    RemoteOrder,
    RemoteProduct,
    RemoteShipmentState,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

PLATFORM = "shopware"
PAGE_SIZE = 100
STOCK_BATCH = 100
#: where each delivery remembers the Kade shipments written to it (idempotency key → tracking code)
MARKER_FIELD = "kade_shipments"
#: Shopware stores milliseconds; step back a little so an order changed at the boundary is not lost
SINCE_MARGIN = timedelta(seconds=1)
_UUID = re.compile(r"^[0-9a-f]{32}$")

SETTINGS = (
    SettingSpec(name="webhook_secret", secret=True,
                description="The app's shop secret; app-system webhooks are verified with it "
                            "(shopware-shop-signature)."),
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM,
        title="Shopware 6",
        auth_methods=AUTH_METHODS,
        default_auth_method=CLIENT_CREDENTIALS,
        capabilities=Capabilities(partial_shipments=True, tracking="every",
                                  stock_batch_size=STOCK_BATCH, stock_read=True,
                                  webhooks=True, cancel_order=True),
        settings=SETTINGS,
        credential_fields=dict(CREDENTIAL_FIELDS),
    )


def _mine(ctx: ConnectionContext) -> bool:
    return ctx.platform == PLATFORM


# --------------------------------------------------------------------------------------------
# Orders


def _cursor(token: str) -> tuple[int, datetime | None]:
    try:
        data = json.loads(token)
        page = int(data["p"])
        since = datetime.fromisoformat(data["s"]) if data.get("s") else None
    except (ValueError, KeyError, TypeError):
        raise RejectedByStore(f"invalid Shopware page token {token!r}", code="invalid_page_token") from None
    return page, since


def _translate(raws: list[dict[str, Any]]) -> tuple[list[RemoteOrder], list[RejectedRecord]]:
    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    for raw in raws:
        try:
            if "__malformed__" in raw:
                raise MappingError(f"order is not an object: {raw['__malformed__']!r}")
            orders.append(to_remote_order(raw))
        except MappingError as exc:
            rejected.append(RejectedRecord(remote_id=str(raw.get("id") or "?"), reason=str(exc), raw=raw))
    return orders, rejected


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
    if not _mine(ctx):
        return None
    if query.page_token:
        page, since = _cursor(query.page_token)
    else:
        page, since = 1, (query.since - SINCE_MARGIN if query.since is not None else None)
    raws, total = ShopwareClient(ctx).search("order", order_criteria(page=page, limit=PAGE_SIZE, since=since))
    orders, rejected = _translate(raws)
    more = page * PAGE_SIZE < total if total is not None else len(raws) >= PAGE_SIZE
    token = json.dumps({"p": page + 1, "s": since.isoformat() if since else None}) if more else None
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected), next_page_token=token)


def _order(client: ShopwareClient, order_id: str) -> dict[str, Any]:
    if not _UUID.match(order_id):
        raise NotFound(f"{order_id!r} is not a Shopware order id")
    raws, _ = client.search("order", order_criteria(page=1, limit=1, ids=[order_id]))
    if not raws or raws[0].get("id") != order_id:
        raise NotFound(f"Shopware has no order {order_id}")
    return raws[0]


# --------------------------------------------------------------------------------------------
# Products and stock


def _product_page(ctx: ConnectionContext, page_token: str | None) -> tuple[list[dict[str, Any]], str | None]:
    try:
        page = int(page_token) if page_token else 1
    except ValueError:
        raise RejectedByStore(f"invalid Shopware page token {page_token!r}", code="invalid_page_token") from None
    raws, total = ShopwareClient(ctx).search("product", product_criteria(page=page, limit=PAGE_SIZE))
    more = page * PAGE_SIZE < total if total is not None else len(raws) >= PAGE_SIZE
    return raws, str(page + 1) if more else None


def _products(raws: list[dict[str, Any]]) -> tuple[list[RemoteProduct], list[RejectedRecord]]:
    products, rejected = [], []
    for raw in raws:
        try:
            products.append(to_remote_product(raw))
        except MappingError as exc:
            rejected.append(RejectedRecord(remote_id=str(raw.get("id") or "?"), reason=str(exc), raw=raw))
    return products, rejected


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage | None:
    if not _mine(ctx):
        return None
    raws, token = _product_page(ctx, page_token)
    products, rejected = _products(raws)
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=token)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage | None:
    if not _mine(ctx):
        return None
    raws, token = _product_page(ctx, page_token)
    products, _ = _products([r for r in raws if manages_stock(r)])
    return StockPage(items=tuple(to_remote_stock(p) for p in products), next_page_token=token)


def _failure(update: StockUpdate, kind: str, error: str) -> StockResult:
    return StockResult(remote_product_id=update.remote_product_id, ok=False, error_kind=kind, error=error)


def _sync(client: ShopwareClient, updates: list[StockUpdate]) -> dict[str, StockResult]:
    """One Sync API upsert; a 400 naming items (``/0/<index>/…``) fails those, the rest go again once."""
    results: dict[str, StockResult] = {}
    pending = list(updates)
    for _ in range(2):
        if not pending:
            break
        body = [{"key": "kade-stock", "action": "upsert", "entity": "product",
                 "payload": [{"id": u.remote_product_id, "stock": u.quantity} for u in pending]}]
        try:
            answer = client.call("POST", "_action/sync", json=body, headers={"indexing-behavior": "use-queue-indexing"})
        except OutcomeUnknown as exc:  # stock levels are absolute: sending again is safe
            raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
        except RejectedByStore as exc:
            indices = {int(m) for m in re.findall(r"\(/[^/()]+/(\d+)(?:/[^()]*)?\)", exc.message)}
            bad = [u for i, u in enumerate(pending) if i in indices]
            if not bad:
                raise
            for update in bad:
                results[update.remote_product_id] = _failure(update, "rejected", f"Shopware refused it: {exc.message}")
            pending = [u for i, u in enumerate(pending) if i not in indices]
            continue
        written = set((answer or {}).get("data", {}).get("product", [])) if isinstance(answer, dict) else set()
        for update in pending:
            results[update.remote_product_id] = (
                StockResult(remote_product_id=update.remote_product_id, ok=True) if update.remote_product_id in
                written else _failure(update, "no_result", "Shopware's sync answer did not mention this product"))
        pending = []
    return results


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult] | None:
    """Products are looked up first: an upsert of an unknown id would try to create a product."""
    if not _mine(ctx):
        return None
    results: dict[str, StockResult] = {}
    valid = []
    for update in updates:
        if _UUID.match(update.remote_product_id):
            valid.append(update)
        else:
            results[update.remote_product_id] = _failure(update, "invalid_reference",
                                                          f"{update.remote_product_id!r} is not a Shopware product id")
    client = ShopwareClient(ctx)
    existing: set[str] = set()
    if valid:
        raws, _ = client.search("product", product_criteria(page=1, limit=len(valid),
                                                            ids=[u.remote_product_id for u in valid]))
        existing = {str(r.get("id")) for r in raws}
    present = [u for u in valid if u.remote_product_id in existing]
    for update in valid:
        if update.remote_product_id not in existing:
            results[update.remote_product_id] = _failure(
                update, "not_found", f"Shopware has no product {update.remote_product_id} (deleted?)")
    results.update(_sync(client, present))
    return [results[u.remote_product_id] for u in updates]


# --------------------------------------------------------------------------------------------
# Shipments and cancellation


def _states(order: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    """The order's state, its primary delivery and that delivery's state, or a clear error."""
    try:
        delivery = primary_delivery(order)
        return order_state(order), delivery, delivery_state(delivery) if delivery is not None else None
    except MappingError as exc:
        raise TransientError(f"Shopware answered an unreadable order {order.get('orderNumber')}: {exc}") from None


def _delivery_for(order: dict[str, Any], shipment: ShipmentRequest) -> dict[str, Any]:
    state, delivery, shipping = _states(order)
    if state == "cancelled":
        raise RejectedByStore(f"order {shipment.order_number} is cancelled in Shopware", code="order_cancelled")
    if delivery is None:
        raise RejectedByStore(f"order {shipment.order_number} has no delivery in Shopware", code="no_delivery")
    if shipping == "cancelled":
        raise RejectedByStore(f"the delivery of order {shipment.order_number} is cancelled in Shopware",
                              code="order_cancelled")
    return delivery


def _markers(delivery: dict[str, Any]) -> dict[str, str]:
    fields = delivery.get("customFields") if isinstance(delivery.get("customFields"), dict) else {}
    marks = fields.get(MARKER_FIELD) if isinstance(fields, dict) else None
    return {str(k): str(v) for k, v in marks.items()} if isinstance(marks, dict) else {}


def _transition(client: ShopwareClient, delivery: dict[str, Any], shipment: ShipmentRequest) -> None:
    """``ship`` with the shipment that completes the order, ``ship_partially`` with the first partial one."""
    state = delivery_state(delivery)
    if shipment.completes_order:
        action = None if state == "shipped" else "ship"
    else:
        action = "ship_partially" if state == "open" else None
    if action is not None:
        client.call("POST", f"_action/order_delivery/{delivery['id']}/state/{action}", json={"sendMail": False})


def _result(delivery: dict[str, Any]) -> ShipmentResult:
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=str(delivery["id"]))


def _order_lock(ctx: ConnectionContext, order_id: str) -> Any:
    """Tracking codes are read, appended and written back (a PATCH replaces the list): two
    shipments of one order written at once would lose a code, so each order's write is serialised
    across workers through the core's shared lock."""
    return ctx.tokens.lock(f"shopware:{ctx.connection_id}:order:{order_id}", timeout=60.0)


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    client = ShopwareClient(ctx)
    with _order_lock(ctx, shipment.order_remote_id):
        delivery = _delivery_for(_order(client, shipment.order_remote_id), shipment)
        marks = _markers(delivery)
        if shipment.idempotency_key not in marks:
            codes = [str(c) for c in delivery.get("trackingCodes") or []]
            if shipment.tracking_code and shipment.tracking_code not in codes:
                codes.append(shipment.tracking_code)
            marks[shipment.idempotency_key] = shipment.tracking_code or ""
            client.call("PATCH", f"order-delivery/{delivery['id']}", params={"_response": "basic"},
                        json={"trackingCodes": codes, "customFields": {MARKER_FIELD: marks}})
        _transition(client, delivery, shipment)
    return _result(delivery)


@hookimpl
def check_shipment(ctx: ConnectionContext, shipment: ShipmentRequest,
                   remote_reference: str | None) -> ShipmentResult | None:
    """The delivery carries this shipment's key: it landed; finish a state change left undone."""
    if not _mine(ctx):
        return None
    client = ShopwareClient(ctx)
    with _order_lock(ctx, shipment.order_remote_id):
        _, delivery, shipping = _states(_order(client, shipment.order_remote_id))
        if delivery is None or shipment.idempotency_key not in _markers(delivery):
            return None
        if shipping != "cancelled":
            _transition(client, delivery, shipment)
    return _result(delivery)


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult | None:
    if not _mine(ctx):
        return None
    if request.lines:
        raise RejectedByStore("Shopware cancels whole orders only; change line quantities in the administration",
                              code="partial_cancel_unsupported")
    client = ShopwareClient(ctx)
    state, _, _ = _states(_order(client, request.order_remote_id))
    if state != "cancelled":
        try:
            client.call("POST", f"_action/order/{request.order_remote_id}/state/cancel", json={"sendMail": False})
        except OutcomeUnknown as exc:  # the next attempt reads the state first
            raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    return CancelResult(ok=True, remote_reference=request.order_remote_id)


# --------------------------------------------------------------------------------------------
# Connections


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult | None:
    """A token and ``GET /api/_info/version``: proves the URL, the login and the API."""
    if not _mine(ctx):
        return None
    body = ShopwareClient(ctx).call("GET", "_info/version")
    version = body.get("version") if isinstance(body, dict) else None
    return ConnectionTestResult(ok=True, message=f"connected to Shopware {version or '?'} at {ctx.base_url} "
                                                 f"({ctx.auth_method})")


@hookimpl
def migrate_connection(ctx: ConnectionContext, target_auth_method: str,
                       new_credentials: Mapping[str, str]) -> MigrationResult | None:
    """Typically an admin user's password grant → an integration's client credentials."""
    if not _mine(ctx):
        return None
    if target_auth_method not in AUTH_METHODS:
        raise AuthRejected(f"Shopware has no login method {target_auth_method!r}", code="unknown_auth_method")
    fields = CREDENTIAL_FIELDS[target_auth_method]
    credentials = {k: str(new_credentials[k]) for k in fields if new_credentials.get(k)}
    request_token(ctx.http, ctx.base_url, target_auth_method, credentials)
    client = ShopwareClient(ctx, auth_method=target_auth_method, credentials=credentials)
    client.search("order", {"page": 1, "limit": 1})  # the new login may read orders
    return MigrationResult(auth_method=target_auth_method, credentials=credentials,
                           message=f"verified the new {target_auth_method} login against {ctx.base_url}")


# --------------------------------------------------------------------------------------------
# Webhooks (app system)


def _secret(ctx: ConnectionContext) -> str:
    return str(ctx.credentials.get("webhook_secret") or ctx.settings.get("webhook_secret") or "")


@hookimpl
def verify_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool | None:
    """``shopware-shop-signature`` = hex HMAC-SHA256 of the raw body with the shop secret."""
    if not _mine(ctx):
        return None
    signature = header(headers, "shopware-shop-signature")
    if not signature:
        raise WebhookRejected("Shopware delivery without shopware-shop-signature")
    secret = _secret(ctx)
    if not secret:
        raise WebhookRejected("no webhook_secret configured for this Shopware connection")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise WebhookRejected("Shopware webhook signature does not match the body")
    return True


Topic = Literal["order_created", "order_updated", "order_cancelled", "product_updated"]
_TOPICS: dict[str, Topic] = {
    "checkout.order.placed": "order_created",
    "order.written": "order_updated",
    "state_enter.order.state.cancelled": "order_cancelled",
    "product.written": "product_updated",
}


def _primary_key(payload: Any) -> str | None:
    if isinstance(payload, dict):
        order = payload.get("order")
        return str(order["id"]) if isinstance(order, dict) and order.get("id") else None
    if isinstance(payload, list):
        first = next((p for p in payload if isinstance(p, dict) and p.get("primaryKey")), None)
        return str(first["primaryKey"]) if first else None
    return None


@hookimpl
def parse_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    if not _mine(ctx):
        return None
    try:
        message = json.loads(body)
    except ValueError:
        raise WebhookRejected("Shopware webhook body is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
        raise WebhookRejected("Shopware webhook body has no data object")
    event = str(message["data"].get("event") or "")
    source: dict[str, Any] = message["source"] if isinstance(message.get("source"), dict) else {}
    delivery_id = str(source.get("eventId") or hashlib.sha256(body).hexdigest()[:32])
    topic: Topic | None = _TOPICS.get(event)
    if topic is None and event.startswith("state_enter.order_delivery.state."):
        topic = "order_updated"
    if topic is None:
        return None
    stamp = message.get("timestamp")
    signed_at = datetime.fromtimestamp(stamp, UTC) if isinstance(stamp, int) and not isinstance(stamp, bool) \
        and 0 < stamp < 2**33 else None
    return WebhookEvent(delivery_id=delivery_id, topic=topic, remote_id=_primary_key(message["data"].get("payload")),
                        payload=message, signed_at=signed_at)
