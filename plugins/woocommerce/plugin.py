"""The WooCommerce platform plugin (REST API v3).

What WooCommerce cannot do natively is settled here, per the platform notes:

* no shipment object and no tracking fields: every shipment becomes one order note with the
  carrier and tracking (and, when the Shipment Tracking extension is installed, a tracking
  item too); the order goes to ``completed`` only with the shipment that completes it;
* no idempotency keys: the shipment's key is written into the note, so ``check_shipment`` can
  tell whether a report whose answer was lost reached the store;
* no cancellation object: ``cancelled``/``refunded``/``failed`` statuses are cancellations and
  refunded line quantities are cancelled quantities;
* dates: only the ``*_gmt`` fields and ``dates_are_gmt=true`` are used, and results are
  filtered again on ``date_modified_gmt`` because stores older than 5.8 silently ignore
  ``modified_after``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog

from kade.errors import (
    AuthRejected,
    NotFound,
    OutcomeUnknown,
    RejectedByStore,
    TransientError,
)
from kade.hookspecs import hookimpl
from kade.mapping import MappingError
from kade.plugins.woocommerce import shipping, stock, webhooks
from kade.plugins.woocommerce.client import PAGE_SIZE, TRACKING_API, WooClient, total_pages
from kade.plugins.woocommerce.mapping import (
    CANCELLED_STATUSES,
    DEFAULT_IMPORT_STATUSES,
    format_gmt,
    order_status,
    parse_gmt,
    refunded_quantities,
    to_remote_order,
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
    RemoteOrderStatus,
    RemoteShipmentState,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

log = structlog.get_logger(__name__)

PLATFORM = "woocommerce"
AUTH_METHODS = ("basic", "oauth1", "wc_auth")
#: WC dates have second resolution and ``modified_after`` is exclusive: step back one second
SINCE_MARGIN = timedelta(seconds=1)

SETTINGS = (
    SettingSpec(
        name="shipment_tracking_extension",
        type="choice",
        default="auto",
        choices=("auto", "on", "off"),
        description="Also add tracking items through the Shipment Tracking extension (auto: when installed).",
    ),
    SettingSpec(
        name="webhook_secret",
        description="Secret of the store's order webhooks; deliveries are verified with it.",
        secret=True,
    ),
    SettingSpec(
        name="import_statuses",
        default="processing",
        description="Comma-separated WooCommerce statuses that make an order ready to fulfil.",
    ),
    SettingSpec(
        name="tracking_note_to_customer",
        type="bool",
        default=True,
        description="Send the tracking note to the customer (WooCommerce e-mails customer notes).",
    ),
    SettingSpec(
        name="query_string_auth",
        type="bool",
        default=False,
        description="Send keys as query parameters, for hosts that strip the Authorization header (HTTPS only).",
    ),
    SettingSpec(
        name="oauth_signature_method",
        type="choice",
        default="HMAC-SHA256",
        choices=("HMAC-SHA256", "HMAC-SHA1"),
        description="Signature method for OAuth 1.0a on plain-HTTP stores.",
    ),
    SettingSpec(
        name="ean_meta_key",
        default="",
        description="Product meta key holding the EAN on stores without WooCommerce's GTIN field.",
    ),
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM,
        title="WooCommerce",
        auth_methods=AUTH_METHODS,
        default_auth_method="wc_auth",
        capabilities=Capabilities(
            partial_shipments=True,
            tracking="every",
            stock_batch_size=stock.BATCH_SIZE,
            stock_read=True,
            webhooks=True,
            cancel_order=True,
        ),
        settings=SETTINGS,
        credential_fields={method: ("consumer_key", "consumer_secret") for method in AUTH_METHODS},
    )


def _mine(ctx: ConnectionContext) -> bool:
    return ctx.platform == PLATFORM


# --------------------------------------------------------------------------------------------
# Orders


@dataclass(frozen=True)
class _OrderCursor:
    """Where an order import stands; serialised into the page token."""

    page: int
    #: GMT wall time for ``modified_after`` (incremental import)
    modified_after: str | None = None
    #: index into the import statuses (first import: one sweep per status)
    status_index: int | None = None

    def token(self) -> str:
        return json.dumps({"p": self.page, "m": self.modified_after, "s": self.status_index}, separators=(",", ":"))

    @classmethod
    def parse(cls, token: str) -> _OrderCursor:
        try:
            data = json.loads(token)
            return cls(page=int(data["p"]), modified_after=data.get("m"), status_index=data.get("s"))
        except (ValueError, KeyError, TypeError):
            raise RejectedByStore(f"invalid WooCommerce page token {token!r}", code="invalid_page_token") from None


def _import_statuses(ctx: ConnectionContext) -> tuple[str, ...]:
    raw = str(ctx.settings.get("import_statuses") or "")
    statuses = tuple(s.strip() for s in raw.split(",") if s.strip())
    return statuses or DEFAULT_IMPORT_STATUSES


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
    if not _mine(ctx):
        return None
    statuses = _import_statuses(ctx)
    if query.page_token:
        cursor = _OrderCursor.parse(query.page_token)
    elif query.since is not None:
        cursor = _OrderCursor(page=1, modified_after=format_gmt(query.since - SINCE_MARGIN))
    else:
        cursor = _OrderCursor(page=1, status_index=0)
    params: dict[str, str | int] = {"per_page": PAGE_SIZE, "page": cursor.page, "orderby": "id", "order": "asc"}
    if cursor.modified_after is not None:
        params.update(modified_after=cursor.modified_after, dates_are_gmt="true")
    else:
        params["status"] = statuses[cursor.status_index or 0]
    client = WooClient(ctx)
    response = client.request("GET", "orders", params=params)
    items = response.json()
    if not isinstance(items, list):
        raise TransientError(f"WooCommerce answered GET orders with {type(items).__name__}, not a list")
    threshold = parse_gmt({"t": cursor.modified_after}, "t") if cursor.modified_after else None
    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    ignored_filter = False
    for raw in items:
        remote_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise MappingError(f"order is not an object: {raw!r}")
            status = order_status(str(raw.get("status") or ""), statuses)
            if status is None:
                continue
            if threshold is not None and parse_gmt(raw, "date_modified_gmt") < threshold:
                ignored_filter = True  # WooCommerce < 5.8 ignores modified_after
                continue
            refunded: dict[int, int] = {}
            if raw.get("refunds") and status is RemoteOrderStatus.OPEN:
                refunds = client.get(f"orders/{int(raw['id'])}/refunds", {"per_page": PAGE_SIZE})
                refunded = refunded_quantities(raw, refunds if isinstance(refunds, list) else [])
            orders.append(to_remote_order(raw, status, refunded=refunded))
        except MappingError as exc:
            rejected.append(
                RejectedRecord(remote_id=remote_id, reason=str(exc), raw=raw if isinstance(raw, dict) else {})
            )
    if ignored_filter:
        log.warning(
            "woocommerce.modified_after_ignored",
            connection_id=ctx.connection_id,
            hint="store older than WooCommerce 5.8; filtering on date_modified_gmt client-side",
        )
    next_cursor: _OrderCursor | None = None
    if cursor.page < total_pages(response.headers, cursor.page, len(items)):
        next_cursor = _OrderCursor(cursor.page + 1, cursor.modified_after, cursor.status_index)
    elif cursor.status_index is not None and cursor.status_index + 1 < len(statuses):
        next_cursor = _OrderCursor(1, None, cursor.status_index + 1)
    return OrderPage(
        orders=tuple(orders),
        rejected=tuple(rejected),
        next_page_token=next_cursor.token() if next_cursor else None,
    )


# --------------------------------------------------------------------------------------------
# Products and stock


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage | None:
    if not _mine(ctx):
        return None
    products, rejected, next_token = stock.product_page(ctx, page_token)
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=next_token)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage | None:
    if not _mine(ctx):
        return None
    products, _, next_token = stock.product_page(ctx, page_token)
    return StockPage(items=tuple(to_remote_stock(p) for p in products), next_page_token=next_token)


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult] | None:
    if not _mine(ctx):
        return None
    return stock.push(ctx, updates)


# --------------------------------------------------------------------------------------------
# Shipments


def _order_id(shipment_or_request: ShipmentRequest | CancelRequest) -> int:
    try:
        return int(shipment_or_request.order_remote_id)
    except ValueError:
        raise NotFound(f"{shipment_or_request.order_remote_id!r} is not a WooCommerce order id") from None


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    client = WooClient(ctx)
    order_id = _order_id(shipment)
    order = client.get(f"orders/{order_id}")
    status = str(order.get("status"))
    if status in CANCELLED_STATUSES or status == "trash":
        raise RejectedByStore(f"order {shipment.order_number} is {status} in WooCommerce", code="order_cancelled")
    extension = bool(shipment.tracking_code) and shipping.uses_tracking_extension(ctx, client, order_id)
    note = shipping.add_note(ctx, client, order_id, shipment)
    reference = f"note:{note.get('id')}"
    if extension:
        reference += f",tracking:{shipping.add_tracking(client, order_id, shipment)}"
    if shipment.completes_order and status != "completed":
        shipping.complete(client, order_id)
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=reference)


@hookimpl
def check_shipment(
    ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
) -> ShipmentResult | None:
    """Find this shipment's note (or tracking item); finish a report that stopped half-way.

    A report is several writes (note, tracking item, status). When the note is there, the
    shipment reached the store: missing later steps are completed here, each only after
    checking it is missing, so nothing is ever written twice. No trace → None (safe to resend).
    """
    if not _mine(ctx):
        return None
    client = WooClient(ctx)
    order_id = _order_id(shipment)
    notes = client.get(f"orders/{order_id}/notes", {"type": "any"})
    note = next((n for n in notes if isinstance(n, dict) and shipping.mentions(str(n.get("note", "")), shipment)), None)
    extension = bool(shipment.tracking_code) and shipping.uses_tracking_extension(ctx, client, order_id)
    tracking: dict[str, Any] | None = None
    if extension:
        items = client.get(f"orders/{order_id}/shipment-trackings", api=TRACKING_API)
        tracking = next(
            (t for t in items if isinstance(t, dict) and t.get("tracking_number") == shipment.tracking_code), None
        )
    if note is None and tracking is None:
        return None
    order = client.get(f"orders/{order_id}")
    status = str(order.get("status"))
    if note is None:
        note = shipping.add_note(ctx, client, order_id, shipment)
    reference = f"note:{note.get('id')}"
    if extension:
        tracking_id = tracking.get("tracking_id") if tracking else shipping.add_tracking(client, order_id, shipment)
        reference += f",tracking:{tracking_id}"
    if shipment.completes_order and status not in ("completed", "trash", *CANCELLED_STATUSES):
        shipping.complete(client, order_id)
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=reference)


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult | None:
    if not _mine(ctx):
        return None
    if request.lines:
        raise RejectedByStore(
            "WooCommerce has no partial cancellation; cancel the whole order or refund lines in wp-admin",
            code="partial_cancel_unsupported",
        )
    order_id = _order_id(request)
    client = WooClient(ctx)
    try:
        answer = client.send("PUT", f"orders/{order_id}", {"status": "cancelled"})
    except OutcomeUnknown as exc:
        # setting a status is idempotent: sending it again is safe
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    if str(answer.get("status")) != "cancelled":
        raise RejectedByStore(
            f"WooCommerce kept order {request.order_number} at {answer.get('status')!r}", code="not_cancelled"
        )
    return CancelResult(ok=True, remote_reference=str(order_id))


# --------------------------------------------------------------------------------------------
# Connections


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult | None:
    """``GET /orders?per_page=1``: proves the URL, the keys and their read permission.

    Rejected keys raise ``AuthRejected`` (the connection needs new keys); a URL without the
    WooCommerce REST API answers ok=False with the reason.
    """
    if not _mine(ctx):
        return None
    client = WooClient(ctx)
    try:
        response = client.request("GET", "orders", params={"per_page": 1})
    except NotFound as exc:
        return ConnectionTestResult(ok=False, message=f"no WooCommerce REST API at {ctx.base_url}: {exc.message}")
    total = response.headers.get("x-wp-total", "?")
    return ConnectionTestResult(ok=True, message=f"connected to WooCommerce at {ctx.base_url} ({total} orders)")


@hookimpl
def migrate_connection(
    ctx: ConnectionContext, target_auth_method: str, new_credentials: Mapping[str, str]
) -> MigrationResult | None:
    """Switch to other keys, typically manual keys → keys issued through ``/wc-auth/v1/authorize``.

    The new keys must read orders now, and (when the store said so in its callback) carry
    ``read_write`` permission, since shipments and stock need writes.
    """
    if not _mine(ctx):
        return None
    if target_auth_method not in AUTH_METHODS:
        raise AuthRejected(f"WooCommerce has no login method {target_auth_method!r}", code="unknown_auth_method")
    permissions = new_credentials.get("key_permissions")
    if permissions and permissions != "read_write":
        raise AuthRejected(
            f"the new WooCommerce key has {permissions!r} permission; Kade needs read_write",
            code="insufficient_permissions",
        )
    credentials = {
        k: str(v)
        for k, v in new_credentials.items()
        if k in ("consumer_key", "consumer_secret", "key_id", "user_id", "key_permissions") and v is not None
    }
    client = WooClient(ctx, auth_method=target_auth_method, credentials=credentials)
    try:
        client.request("GET", "orders", params={"per_page": 1})
    except NotFound as exc:
        raise AuthRejected(f"could not verify the new keys: {exc.message}", code=exc.code) from exc
    return MigrationResult(
        auth_method=target_auth_method,
        credentials=credentials,
        message=f"verified new {target_auth_method} keys against {ctx.base_url}",
    )


# --------------------------------------------------------------------------------------------
# Webhooks


@hookimpl
def verify_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool | None:
    if not _mine(ctx):
        return None
    return webhooks.verify(ctx, headers, body)


@hookimpl
def parse_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    if not _mine(ctx):
        return None
    return webhooks.parse(headers, body)
