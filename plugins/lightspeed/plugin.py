"""The Lightspeed eCom (C-Series) platform plugin.

What Lightspeed decides, and how Kade follows it (the platform notes, §2):

* no partial shipments: the shop prepares the order's shipment itself; Kade reports once, when
  the whole order has shipped (the core holds earlier partial shipments, rule R8), by marking the
  shop's shipment(s) ``shipped`` with the tracking code; the order then becomes
  ``completed_shipped``. A report whose answer was lost is checked against the shipments first;
* stock is per variant (``stockLevel``) and only means something when the variant tracks stock:
  a variant that does not is a per-item error, never a failed batch;
* orders are paged by ``page``/``limit`` (≤ 250) and filtered on ``updated_at_min``; their lines
  (``orders/{id}/products``) are one more call per order;
* the three rate-limit windows are kept by ``pacing``: Kade never triggers a 429 itself.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any, Literal

import structlog

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RejectedByStore, TransientError, WebhookRejected
from kade.hookspecs import hookimpl
from kade.mapping import MappingError, header
from kade.plugins.lightspeed import shipping
from kade.plugins.lightspeed.auth import AUTH_METHODS, CREDENTIAL_FIELDS, signing_secret, webhook_signature
from kade.plugins.lightspeed.client import MAX_PAGE, LightspeedClient, unwrap
from kade.plugins.lightspeed.mapping import (
    PRODUCT_CODES,
    order_status,
    to_remote_order,
    to_remote_product,
    to_remote_stock,
    tracks_stock,
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
    RemoteOrderStatus,
    RemoteProduct,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

log = structlog.get_logger(__name__)

PLATFORM = "lightspeed"
#: one PUT per variant; a batch is what one worker call sends
STOCK_BATCH = 50
#: ``updated_at_min`` is inclusive with second resolution; step back one second
SINCE_MARGIN = timedelta(seconds=1)
#: how long an order version's lines are kept, so an import restarted after a spent window is cheap
LINES_TTL = 6 * 3600.0
#: how long "this variant does not track stock" is remembered (skips the write)
UNTRACKED_TTL = 3600.0

SETTINGS = (
    SettingSpec(name="language", default="",
                description="Language segment of the API URLs (nl, en, de...); it must be active in the shop. "
                            "Empty: the base URL's segment, else nl."),
    SettingSpec(name="page_size", type="int", default=MAX_PAGE,
                description="Orders and variants per page (1-250)."),
    SettingSpec(name="product_code", type="choice", default="sku_then_article_code", choices=PRODUCT_CODES,
                description="Which variant field is the product code: sku, article_code, or the SKU and, when "
                            "empty, the article code."),
    SettingSpec(name="import_unpaid", type="bool", default=False,
                description="Also import orders that are not paid yet (default: they arrive once paid)."),
    SettingSpec(name="notify_customer", type="bool", default=True,
                description="Let Lightspeed e-mail the customer the shipment and its tracking code."),
    SettingSpec(name="webhook_secret", default="", secret=True,
                description="Secret webhook signatures are checked with (default: the login's API/app secret)."),
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM, title="Lightspeed eCom", auth_methods=AUTH_METHODS, default_auth_method="api_key",
        capabilities=Capabilities(partial_shipments=False, tracking="every",
                                  stock_batch_size=STOCK_BATCH, stock_read=True, webhooks=True,
                                  cancel_order=True),
        settings=SETTINGS, credential_fields=dict(CREDENTIAL_FIELDS),
    )


def _mine(ctx: ConnectionContext) -> bool:
    return ctx.platform == PLATFORM


_flag = shipping.flag


def _page_size(ctx: ConnectionContext) -> int:
    raw = ctx.settings.get("page_size") or MAX_PAGE
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise RejectedByStore(f"Lightspeed page_size must be a whole number from 1 to {MAX_PAGE}, not {raw!r}",
                              code="invalid_setting") from None
    if not 1 <= size <= MAX_PAGE:
        raise RejectedByStore(f"Lightspeed page_size must be from 1 to {MAX_PAGE} (Lightspeed's largest page), "
                              f"not {size}", code="invalid_setting")
    return size


def _mode(ctx: ConnectionContext) -> str:
    mode = str(ctx.settings.get("product_code") or "sku_then_article_code")
    return mode if mode in PRODUCT_CODES else "sku_then_article_code"


# --------------------------------------------------------------------------------------------
# Orders


@dataclass(frozen=True)
class _Cursor:
    page: int
    updated_at_min: str | None

    def token(self) -> str:
        return json.dumps({"p": self.page, "u": self.updated_at_min}, separators=(",", ":"))

    @classmethod
    def parse(cls, token: str) -> _Cursor:
        try:
            data = json.loads(token)
            return cls(page=int(data["p"]), updated_at_min=data.get("u"))
        except (ValueError, KeyError, TypeError):
            raise RejectedByStore(f"invalid Lightspeed page token {token!r}", code="invalid_page_token") from None


_all = shipping.all_items


def _order_products(ctx: ConnectionContext, client: LightspeedClient, order_id: int, updated_at: str) -> list[Any]:
    """An order's lines, read once per version of the order.

    Lines cost one request per order, the bulk of an import's budget. An import stopped by a spent
    hour window starts again from the same cursor; with the lines of unchanged orders kept for
    ``LINES_TTL``, the next run pays only for the order list and gets further.
    """
    key = f"lightspeed:{ctx.connection_id}:lines:{client.language}:{order_id}:{updated_at}"
    cached = ctx.tokens.get(key)
    if cached is not None:
        try:
            lines = json.loads(cached)
            if isinstance(lines, list):
                return lines
        except ValueError:
            pass
    try:
        products = _all(client, f"orders/{order_id}/products", "orderProducts")
    except NotFound as exc:  # deleted between the list and this call: costs only this order
        raise MappingError(f"order {order_id}'s products could not be read: {exc.message}") from exc
    if updated_at:
        ctx.tokens.set(key, json.dumps(products, separators=(",", ":")), LINES_TTL)
    return products


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
    if not _mine(ctx):
        return None
    if query.page_token:
        cursor = _Cursor.parse(query.page_token)
    else:
        since = (query.since - SINCE_MARGIN).astimezone(UTC).isoformat(timespec="seconds") if query.since else None
        cursor = _Cursor(1, since)
    limit = _page_size(ctx)
    params: dict[str, str | int] = {"page": cursor.page, "limit": limit}
    if cursor.updated_at_min:
        params["updated_at_min"] = cursor.updated_at_min
    client = LightspeedClient(ctx)
    items = unwrap(client.get("orders", params), "orders", list)
    unpaid_too = _flag(ctx, "import_unpaid", False)
    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    for raw in items:
        remote_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise MappingError(f"order is not an object: {str(raw)[:80]}")
            status = order_status(raw)
            if status is not RemoteOrderStatus.OPEN and cursor.updated_at_min is None:
                continue  # a first import brings what is still to ship
            if status is RemoteOrderStatus.OPEN and not unpaid_too and raw.get("paymentStatus") != "paid":
                continue  # arrives with its next update, once paid
            order_id = raw.get("id")
            if not isinstance(order_id, int) or isinstance(order_id, bool):
                raise MappingError(f"order id {order_id!r} is not a number")
            products = _order_products(ctx, client, order_id, str(raw.get("updatedAt") or ""))
            orders.append(to_remote_order(raw, products, _mode(ctx)))
        except (MappingError, ValueError) as exc:
            rejected.append(RejectedRecord(remote_id=remote_id, reason=str(exc),
                                           raw=raw if isinstance(raw, dict) else {}))
    more = len(items) >= limit
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected),
                     next_page_token=_Cursor(cursor.page + 1, cursor.updated_at_min).token() if more else None)


# --------------------------------------------------------------------------------------------
# Products and stock


def _untracked_key(ctx: ConnectionContext, variant_id: str) -> str:
    return f"lightspeed:{ctx.connection_id}:untracked:{variant_id}"


def _variant_page(ctx: ConnectionContext, page_token: str | None) -> tuple[list[RemoteProduct], list[RejectedRecord],
                                                                              str | None]:
    if page_token is not None and not page_token.isdigit():
        raise RejectedByStore(f"invalid Lightspeed page token {page_token!r}", code="invalid_page_token")
    page = int(page_token or 1)
    limit = _page_size(ctx)
    items = unwrap(LightspeedClient(ctx).get("variants", {"page": page, "limit": limit}), "variants", list)
    products: list[RemoteProduct] = []
    rejected: list[RejectedRecord] = []
    for raw in items:
        try:
            product = to_remote_product(raw, _mode(ctx))
        except (MappingError, ValueError) as exc:
            rid = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
            rejected.append(RejectedRecord(remote_id=rid, reason=str(exc), raw=raw if isinstance(raw, dict) else {}))
            continue
        if product.manages_stock:
            ctx.tokens.delete(_untracked_key(ctx, product.remote_id))
        else:
            ctx.tokens.set(_untracked_key(ctx, product.remote_id), "1", UNTRACKED_TTL)
        products.append(product)
    return products, rejected, str(page + 1) if len(items) >= limit else None


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage | None:
    if not _mine(ctx):
        return None
    products, rejected, next_token = _variant_page(ctx, page_token)
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=next_token)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage | None:
    if not _mine(ctx):
        return None
    products, _, next_token = _variant_page(ctx, page_token)
    return StockPage(items=tuple(to_remote_stock(p) for p in products), next_page_token=next_token)


def _untracked(ref: str, tracking: object) -> StockResult:
    return StockResult(remote_product_id=ref, ok=False, error_kind="stock_not_tracked",
                       error=f"Lightspeed variant {ref} does not track stock (stockTracking={tracking!r}); "
                             "enable stock tracking on the variant to let Kade manage it")


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult] | None:
    """One ``PUT variants/{id}`` per item; levels are absolute, so a lost answer is sent again."""
    if not _mine(ctx):
        return None
    client = LightspeedClient(ctx)
    results: list[StockResult] = []
    for update in updates:
        ref = update.remote_product_id
        if not ref.isdigit():
            results.append(StockResult(remote_product_id=ref, ok=False, error_kind="invalid_reference",
                                       error=f"{ref!r} is not a Lightspeed variant id"))
            continue
        if ctx.tokens.get(_untracked_key(ctx, ref)):
            results.append(_untracked(ref, "not enabled"))
            continue
        try:
            answer = client.put(f"variants/{ref}", {"variant": {"stockLevel": update.quantity}})
        except OutcomeUnknown as exc:
            raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
        except (NotFound, RejectedByStore) as exc:
            kind = "not_found" if isinstance(exc, NotFound) else "rejected"
            results.append(StockResult(remote_product_id=ref, ok=False, error_kind=kind, error=exc.message))
            continue
        variant = unwrap(answer, "variant", dict)
        if not tracks_stock(variant):
            ctx.tokens.set(_untracked_key(ctx, ref), "1", UNTRACKED_TTL)
            results.append(_untracked(ref, variant.get("stockTracking")))
        elif variant.get("stockLevel") != update.quantity:
            results.append(StockResult(remote_product_id=ref, ok=False, error_kind="not_applied",
                                       error=f"Lightspeed kept stockLevel {variant.get('stockLevel')!r}, "
                                             f"not {update.quantity}"))
        else:
            results.append(StockResult(remote_product_id=ref, ok=True))
    return results


# --------------------------------------------------------------------------------------------
# Shipments


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    return shipping.report(ctx, shipment)


@hookimpl
def check_shipment(ctx: ConnectionContext, shipment: ShipmentRequest,
                   remote_reference: str | None) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    return shipping.check(ctx, shipment)


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult | None:
    if not _mine(ctx):
        return None
    return shipping.cancel(ctx, request)


# --------------------------------------------------------------------------------------------
# Connections


def _shop(client: LightspeedClient) -> dict[str, Any]:
    result: dict[str, Any] = unwrap(client.get("shop"), "shop", dict)
    return result


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult | None:
    """``GET shop.json`` in the connection's language: proves host, language and login."""
    if not _mine(ctx):
        return None
    client = LightspeedClient(ctx)
    try:
        shop = _shop(client)
    except NotFound as exc:
        return ConnectionTestResult(ok=False, message=f"Lightspeed at {client.root}/{client.language}: {exc.message}")
    return ConnectionTestResult(ok=True, message=f"connected to Lightspeed shop {shop.get('id')} at {client.root} "
                                                 f"({client.language})")


@hookimpl
def migrate_connection(ctx: ConnectionContext, target_auth_method: str,
                       new_credentials: Mapping[str, str]) -> MigrationResult | None:
    """Switch between the shop's API key and an installed app, verified by a live call.

    The new login must reach the same shop as the current one (when the current one still
    works): a token of another shop would silently import someone else's orders.
    """
    if not _mine(ctx):
        return None
    if target_auth_method not in AUTH_METHODS:
        raise AuthRejected(f"Lightspeed has no login method {target_auth_method!r}", code="unknown_auth_method")
    fields = CREDENTIAL_FIELDS[target_auth_method]
    credentials = {k: str(new_credentials.get(k) or "").strip() for k in fields}
    new_shop = _shop(LightspeedClient(ctx, auth_method=target_auth_method, credentials=credentials))
    try:
        old_shop: dict[str, Any] | None = _shop(LightspeedClient(ctx))
    except AuthRejected:
        old_shop = None  # the old login is already gone: nothing to compare with
    if old_shop is not None and old_shop.get("id") != new_shop.get("id"):
        raise AuthRejected(f"the new {target_auth_method} login reaches Lightspeed shop {new_shop.get('id')}, not "
                           f"this connection's shop {old_shop.get('id')}", code="other_shop")
    return MigrationResult(auth_method=target_auth_method, credentials=credentials,
                           message=f"verified {target_auth_method} login on Lightspeed shop {new_shop.get('id')}")


# --------------------------------------------------------------------------------------------
# Webhooks


@hookimpl
def verify_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool | None:
    """``X-Signature`` = md5(raw body + secret), compared in constant time."""
    if not _mine(ctx):
        return None
    given = header(headers, "X-Signature")
    if not given:
        raise WebhookRejected("Lightspeed delivery without X-Signature")
    secret = str(ctx.settings.get("webhook_secret") or "") or signing_secret(ctx.auth_method, ctx.credentials)
    if not secret:
        raise WebhookRejected("no secret to check Lightspeed webhook signatures with")
    if not hmac.compare_digest(webhook_signature(body, secret), given.strip().lower()):
        raise WebhookRejected("Lightspeed webhook signature does not match the body")
    return True


#: a body's resource key → webhook item group, for deliveries without the group header
_GROUPS = {"order": "orders", "variant": "variants", "product": "products"}
Topic = Literal["order_created", "order_updated", "order_cancelled", "product_updated"]


@hookimpl
def parse_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    if not _mine(ctx):
        return None
    action = header(headers, "X-Item-Action") or ""
    try:
        payload = json.loads(body)
    except ValueError:
        raise WebhookRejected("Lightspeed webhook delivery body is not JSON") from None
    if not isinstance(payload, dict) or not payload:
        raise WebhookRejected("Lightspeed webhook body is not a wrapped resource")
    wrapper = next(iter(payload))
    group = header(headers, "X-Item-Group") or _GROUPS.get(wrapper, "")
    item = payload[wrapper]
    if not isinstance(item, dict):
        raise WebhookRejected("Lightspeed webhook body is not a wrapped resource")
    remote_id = str(item["id"]) if "id" in item else header(headers, "X-Item-Id")
    digest = hashlib.sha256(body).hexdigest()[:16]
    delivery_id = f"{header(headers, 'X-Webhook-Id') or group}:{action}:{remote_id}:{digest}"
    if group == "orders" and "order" in payload:
        topic: Topic = "order_created" if action == "created" else "order_updated"
        if item.get("status") == "cancelled":
            topic = "order_cancelled"
        return WebhookEvent(delivery_id=delivery_id, topic=topic, remote_id=remote_id, payload=item)
    if group in ("variants", "products"):
        return WebhookEvent(delivery_id=delivery_id, topic="product_updated", remote_id=remote_id, payload=item)
    return None
