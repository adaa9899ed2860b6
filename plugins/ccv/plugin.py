"""The CCV Shop platform plugin.

What CCV decides, and how Kade follows it (the platform notes, §4):

* every request is signed (HMAC-SHA512, ``x-public``/``x-date``/``x-hash``) and every answer's
  signature is checked before it is read (``client``);
* orders are paged by ``start``/``size`` (≤ 250) and can only be filtered on their creation date,
  so each poll reads again the orders created in the last ``lookback_days``: that is how a
  cancellation (status 8) or a shipment made in the back office reaches Kade. Rows cost one call
  per order and are kept while the order's totals stay the same;
* no partial shipments and one track & trace per order: the status becomes 5 once (``shipping``);
* stock lives on the product or, for a product with ``stocktype`` attribute, on each attribute
  combination: remote ids are ``p:<product id>`` and ``c:<combination id>``;
* the two per-minute limits are paced (``pacing``): Kade does not trigger a 429 itself.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.hookspecs import hookimpl
from kade.mapping import MappingError
from kade.plugins.ccv import shipping
from kade.plugins.ccv.auth import AUTH_METHODS, CREDENTIAL_FIELDS
from kade.plugins.ccv.client import (
    DEFAULT_METHOD_PER_MINUTE,
    DEFAULT_TOTAL_PER_MINUTE,
    MAX_PAGE,
    CcvClient,
)
from kade.plugins.ccv.mapping import (
    order_status,
    product_uses_combinations,
    to_combination,
    to_product,
    to_remote_order,
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
    RemoteStock,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
)

PLATFORM = "ccv"
STOCK_BATCH = 25
ROWS_TTL = 6 * 3600.0
#: what read_products learnt about a stock target (untracked, or kept on combinations)
TARGET_TTL = 3600.0
DEFAULT_LOOKBACK_DAYS = 14

SETTINGS = (
    SettingSpec(name="page_size", type="int", default=MAX_PAGE, description="Orders and products per page (1-250)."),
    SettingSpec(name="lookback_days", type="int", default=DEFAULT_LOOKBACK_DAYS,
                description="CCV filters orders on their creation date only: every poll reads again the orders "
                            "created this many days before the last import, to see cancellations and back-office "
                            "shipments (1-90)."),
    SettingSpec(name="import_unpaid", type="bool", default=False,
                description="Also import orders that are not paid yet (default: they arrive once paid)."),
    SettingSpec(name="notify_customer", type="bool", default=True,
                description="Let CCV e-mail the customer the status change (with the track & trace)."),
    SettingSpec(name="requests_per_minute", type="int", default=DEFAULT_TOTAL_PER_MINUTE,
                description="Kade's budget of API calls per minute in total (CCV's 429.11 limit)."),
    SettingSpec(name="requests_per_minute_per_method", type="int", default=DEFAULT_METHOD_PER_MINUTE,
                description="Kade's budget per resource and method per minute (CCV's 429.10 limit)."),
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM, title="CCV Shop", auth_methods=AUTH_METHODS, default_auth_method="api_key",
        capabilities=Capabilities(partial_shipments=False, tracking="first",
                                  stock_batch_size=STOCK_BATCH, stock_read=True,
                                  webhooks=False, cancel_order=True),
        settings=SETTINGS, credential_fields=dict(CREDENTIAL_FIELDS),
    )


def _mine(ctx: ConnectionContext) -> bool:
    return ctx.platform == PLATFORM


def _int_setting(ctx: ConnectionContext, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.settings.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise RejectedByStore(f"CCV Shop {name} must be a whole number from {low} to {high}, not {raw!r}",
                              code="invalid_setting") from None
    if not low <= value <= high:
        raise RejectedByStore(f"CCV Shop {name} must be from {low} to {high}, not {value}", code="invalid_setting")
    return value


def _page_size(ctx: ConnectionContext) -> int:
    return _int_setting(ctx, "page_size", MAX_PAGE, 1, MAX_PAGE)


# --------------------------------------------------------------------------------------------
# Orders


@dataclass(frozen=True)
class _Cursor:
    start: int
    min_create_date: str | None

    def token(self) -> str:
        return json.dumps({"s": self.start, "d": self.min_create_date}, separators=(",", ":"))

    @classmethod
    def parse(cls, token: str) -> _Cursor:
        try:
            data = json.loads(token)
            start = int(data["s"])
            if start < 0:
                raise ValueError
            return cls(start=start, min_create_date=data.get("d"))
        except (ValueError, KeyError, TypeError):
            raise RejectedByStore(f"invalid CCV Shop page token {token!r}", code="invalid_page_token") from None


def _rows(ctx: ConnectionContext, client: CcvClient, raw: dict[str, Any], order_id: int) -> list[Any]:
    """An order's rows, read again only when its totals change (a changed row changes them)."""
    version = hashlib.sha256(json.dumps([raw.get("total_price"), raw.get("total_weight")]).encode()).hexdigest()[:12]
    key = f"ccv:{ctx.connection_id}:rows:{order_id}:{version}"
    cached = ctx.tokens.get(key)
    if cached is not None:
        try:
            rows = json.loads(cached)
            if isinstance(rows, list):
                return rows
        except ValueError:
            pass
    try:
        rows = client.every(f"orders/{order_id}/orderrows")
    except NotFound as exc:  # deleted between the list and this call: costs only this order
        raise MappingError(f"order {order_id}'s rows could not be read: {exc.message}") from exc
    ctx.tokens.set(key, json.dumps(rows, separators=(",", ":")), ROWS_TTL)
    return rows


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
    if not _mine(ctx):
        return None
    if query.page_token:
        cursor = _Cursor.parse(query.page_token)
    else:
        since = None
        if query.since is not None:
            back = timedelta(days=_int_setting(ctx, "lookback_days", DEFAULT_LOOKBACK_DAYS, 1, 90))
            since = (query.since - back).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cursor = _Cursor(0, since)
    size = _page_size(ctx)
    params: dict[str, str | int] = {"start": cursor.start, "size": size, "orderby": "id"}
    if cursor.min_create_date:
        params["min_create_date"] = cursor.min_create_date
    client = CcvClient(ctx)
    items, more = client.collection("orders", params)
    unpaid_too = shipping.flag(ctx, "import_unpaid", False)
    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    for index, raw in enumerate(items):
        remote_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise MappingError(f"order is not an object: {str(raw)[:80]}")
            status = order_status(raw)
            if status is not RemoteOrderStatus.OPEN and cursor.min_create_date is None:
                continue  # a first import brings what is still to ship
            if status is RemoteOrderStatus.OPEN and not unpaid_too and raw.get("paid") is not True:
                continue  # read again by the next polls (lookback), imported once paid
            order_id = raw.get("id")
            if not isinstance(order_id, int) or isinstance(order_id, bool):
                raise MappingError(f"order id {order_id!r} is not a number")
            orders.append(to_remote_order(raw, _rows(ctx, client, raw, order_id)))
        except (MappingError, ValueError) as exc:
            rejected.append(RejectedRecord(remote_id=remote_id, reason=str(exc),
                                           raw=raw if isinstance(raw, dict) else {}))
        except RateLimited:
            if index == 0:
                raise
            # the budget ran out mid-page: hand over what is done, the next page starts here (the
            # core waits there), so a long import makes progress and renews its lease page by page
            return OrderPage(orders=tuple(orders), rejected=tuple(rejected),
                             next_page_token=_Cursor(cursor.start + index, cursor.min_create_date).token())
    following = _Cursor(cursor.start + len(items), cursor.min_create_date).token() if more and items else None
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected), next_page_token=following)


# --------------------------------------------------------------------------------------------
# Products and stock


def _target_key(ctx: ConnectionContext, remote_id: str) -> str:
    return f"ccv:{ctx.connection_id}:target:{remote_id}"


def _product_page(ctx: ConnectionContext, page_token: str | None) -> tuple[list[RemoteProduct],
                                                                           list[RejectedRecord], str | None]:
    """A page of products, each product with combination stock expanded into its combinations."""
    if page_token is not None and not page_token.isdigit():
        raise RejectedByStore(f"invalid CCV Shop page token {page_token!r}", code="invalid_page_token")
    start = int(page_token or 0)
    client = CcvClient(ctx)
    items, more = client.collection("products", {"start": start, "size": _page_size(ctx), "orderby": "id"})
    products: list[RemoteProduct] = []
    rejected: list[RejectedRecord] = []
    for raw in items:
        rid = f"p:{raw.get('id', '?')}" if isinstance(raw, dict) else "?"
        try:
            product = to_product(raw)
            found = [product]
            if product_uses_combinations(raw):
                ctx.tokens.set(_target_key(ctx, product.remote_id), "combinations", TARGET_TTL)
                found = [to_combination(c, raw) for c in client.every(f"products/{raw['id']}/attributecombinations")]
        except (MappingError, ValueError) as exc:
            rejected.append(RejectedRecord(remote_id=rid, reason=str(exc), raw=raw if isinstance(raw, dict) else {}))
            continue
        for item in found:
            if item.manages_stock:
                ctx.tokens.delete(_target_key(ctx, item.remote_id))
            else:
                ctx.tokens.set(_target_key(ctx, item.remote_id), "untracked", TARGET_TTL)
        products.extend(found)
    return products, rejected, str(start + len(items)) if more and items else None


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage | None:
    if not _mine(ctx):
        return None
    products, rejected, following = _product_page(ctx, page_token)
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=following)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage | None:
    if not _mine(ctx):
        return None
    products, _, following = _product_page(ctx, page_token)
    return StockPage(items=tuple(RemoteStock(remote_product_id=p.remote_id, sku=p.sku, ean=p.ean,
                                             quantity=p.stock if p.manages_stock else None) for p in products),
                     next_page_token=following)


_RESOURCES = {"p": "products", "c": "attributecombinations"}


def _push_one(ctx: ConnectionContext, client: CcvClient, update: StockUpdate) -> StockResult:
    ref = update.remote_product_id
    kind, _, number = ref.partition(":")
    if kind not in _RESOURCES or not number.isdigit():
        return StockResult(remote_product_id=ref, ok=False, error_kind="invalid_reference",
                           error=f"{ref!r} is not a CCV Shop product (p:<id>) or attribute combination (c:<id>)")
    known = ctx.tokens.get(_target_key(ctx, ref))
    if known == "untracked":
        return StockResult(remote_product_id=ref, ok=False, error_kind="stock_not_tracked",
                           error=f"CCV Shop {_RESOURCES[kind]} {number} does not keep stock (stockenabled is "
                                 "off); enable stock on the product to let Kade manage it")
    if known == "combinations":
        return StockResult(remote_product_id=ref, ok=False, error_kind="stock_on_combinations",
                           error=f"CCV Shop product {number} keeps its stock per attribute combination; "
                                 "Kade pushes to the combinations (c:<id>), not the product")
    try:
        client.patch(f"{_RESOURCES[kind]}/{number}", {"stock": update.quantity})
    except OutcomeUnknown as exc:  # an absolute level: sending it again is safe
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    except (NotFound, RejectedByStore) as exc:
        return StockResult(remote_product_id=ref, ok=False,
                           error_kind="not_found" if isinstance(exc, NotFound) else "rejected", error=exc.message)
    return StockResult(remote_product_id=ref, ok=True)


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult] | None:
    """One ``PATCH`` per item (product or combination); levels are absolute."""
    if not _mine(ctx):
        return None
    client = CcvClient(ctx)
    return [_push_one(ctx, client, update) for update in updates]


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


def _root(client: CcvClient) -> list[str]:
    """``GET /api/rest/v1/``: the resources these keys may use (proves host, keys and signatures)."""
    data = client.get("")
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise TransientError(f"CCV Shop's API root lists no resources: {str(data)[:120]}")
    return [str(i.get("name") if isinstance(i, dict) else i) for i in items]


#: what Kade reads and writes; keys without one of these cannot run the connection
NEEDED = ("orders", "orderrows", "products", "attributecombinations")


def _verify(client: CcvClient) -> str:
    resources = _root(client)
    missing = [r for r in NEEDED if r not in resources]
    if missing:
        raise AuthRejected(f"these CCV Shop API keys may not use {', '.join(missing)}; grant them in the back "
                           "office (API settings)", code="missing_permissions")
    return f"connected to CCV Shop at {client.root} ({len(resources)} resources)"


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult | None:
    if not _mine(ctx):
        return None
    return ConnectionTestResult(ok=True, message=_verify(CcvClient(ctx)))


@hookimpl
def migrate_connection(ctx: ConnectionContext, target_auth_method: str,
                       new_credentials: Mapping[str, str]) -> MigrationResult | None:
    """Move to new API keys (the app's keys), verified by a signed call whose answer they verify.

    The host is the shop's own domain, so keys of another shop are refused by this one: the
    signed root call proves the keys belong here.
    """
    if not _mine(ctx):
        return None
    if target_auth_method not in AUTH_METHODS:
        raise AuthRejected(f"CCV Shop has no login method {target_auth_method!r}", code="unknown_auth_method")
    credentials = {k: str(new_credentials.get(k) or "").strip() for k in CREDENTIAL_FIELDS[target_auth_method]}
    message = _verify(CcvClient(ctx, auth_method=target_auth_method, credentials=credentials))
    return MigrationResult(auth_method=target_auth_method, credentials=credentials,
                           message=f"verified the new {target_auth_method} keys: {message}")
