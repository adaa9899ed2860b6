"""The Magento 2 / Adobe Commerce platform plugin (admin REST, ``/rest/<store>/V1``).

What Magento does its own way, settled here per the platform notes:

* orders are searched with ``searchCriteria`` (``updated_at`` gteq for changes, ``state`` for
  the first import) and paged by ``total_count``: a page past the end repeats the last page;
* a shipment is ``POST /V1/order/{id}/ship`` with items and tracks; partial shipments are
  fine. Magento has no idempotency key, so each shipment carries a comment with Kade's key and
  the plugin looks for it (and for the tracking number) before shipping — a retried shipment
  never ships twice. The order reaches ``complete`` only once it is also invoiced; Kade does
  not invoice;
* stock is the MSI source item of the configured source (or, without MSI, the legacy stock
  item); Kade pushes the on-hand quantity, never the salable one (reservations);
* cancelling goes through ``POST /V1/orders/{id}/cancel``, which answers ``false`` when
  Magento will not (invoiced, shipped, on hold).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import quote

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RejectedByStore, TransientError
from kade.hookspecs import hookimpl
from kade.mapping import MappingError, flag_setting
from kade.plugins.magento.auth import AUTH_METHODS, BEARER, CREDENTIAL_FIELDS, OAUTH1
from kade.plugins.magento.client import MagentoClient, criteria
from kade.plugins.magento.mapping import (
    DEFAULT_IMPORT_STATES,
    order_status,
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
    RemoteOrderStatus,
    RemoteProduct,
    RemoteShipmentState,
    SettingSpec,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
)

PLATFORM = "magento"
PAGE_SIZE = 100
#: the largest page Magento allows when the store enables input limiting
STOCK_PAGE_SIZE = 300
BATCH_SIZE = 100
#: Magento dates have second resolution; step back one so an order changed in that second is seen
SINCE_MARGIN = timedelta(seconds=1)
#: carriers Magento knows by code; any other goes as ``custom`` with its name as the title
CARRIER_CODES = {"ups": "ups", "usps": "usps", "fedex": "fedex", "dhl": "dhl"}

SETTINGS = (
    SettingSpec(name="store_code", default="default",
                description="Store view code in the REST path (/rest/<store_code>/V1); 'all' for every view."),
    SettingSpec(name="stock_api", type="choice", default="msi", choices=("msi", "legacy"),
                description="msi: source items (Magento 2.3+ with Inventory); legacy: CatalogInventory stock items."),
    SettingSpec(name="source_code", default="default", description="MSI source whose quantity Kade sets."),
    SettingSpec(name="import_states", default="processing",
                description="Comma-separated order states ready to fulfil (add 'new' for unpaid offline methods)."),
    SettingSpec(name="notify_customer", type="bool", default=True,
                description="Let Magento e-mail the customer the shipment and its tracking."),
    SettingSpec(name="ean_attribute", default="",
                description="Product attribute code holding the EAN/GTIN (Magento has none built in)."),
    SettingSpec(name="requests_per_second", type="int", default=10,
                description="Kade's own request pace for this store (Magento has no REST rate limit); 0: no limit."),
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PlatformSpec(
        name=PLATFORM,
        title="Magento 2 / Adobe Commerce",
        auth_methods=AUTH_METHODS,
        default_auth_method=OAUTH1,
        capabilities=Capabilities(
            partial_shipments=True, tracking="every",
            stock_batch_size=BATCH_SIZE, stock_read=True, webhooks=False, cancel_order=True,
            requests_per_second=10, request_burst=10,
        ),
        settings=SETTINGS,
        credential_fields=dict(CREDENTIAL_FIELDS),
    )


def _mine(ctx: ConnectionContext) -> bool:
    return ctx.platform == PLATFORM


def _flag(ctx: ConnectionContext, name: str, default: bool) -> bool:
    return flag_setting(ctx.settings, name, default)


def _msi(ctx: ConnectionContext) -> bool:
    return str(ctx.settings.get("stock_api") or "msi") == "msi"


def _source(ctx: ConnectionContext) -> str:
    return str(ctx.settings.get("source_code") or "default")


# --------------------------------------------------------------------------------------------
# Orders


@dataclass(frozen=True)
class _Cursor:
    page: int
    #: ``updated_at`` lower bound (incremental import); None: first import by state
    updated_from: str | None = None

    def token(self) -> str:
        return json.dumps({"p": self.page, "u": self.updated_from}, separators=(",", ":"))

    @classmethod
    def parse(cls, token: str) -> _Cursor:
        try:
            data = json.loads(token)
            return cls(page=int(data["p"]), updated_from=data.get("u"))
        except (ValueError, KeyError, TypeError):
            raise RejectedByStore(f"invalid Magento page token {token!r}", code="invalid_page_token") from None


def _import_states(ctx: ConnectionContext) -> tuple[str, ...]:
    raw = str(ctx.settings.get("import_states") or "")
    states = tuple(s.strip() for s in raw.split(",") if s.strip())
    return states or DEFAULT_IMPORT_STATES


def _pages(total: Any, size: int) -> int:
    return max(1, math.ceil(int(total) / size)) if isinstance(total, int) else 1


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
    if not _mine(ctx):
        return None
    states = _import_states(ctx)
    if query.page_token:
        cursor = _Cursor.parse(query.page_token)
    elif query.since is not None:
        since = (query.since - SINCE_MARGIN).astimezone(UTC)
        cursor = _Cursor(1, since.strftime("%Y-%m-%d %H:%M:%S"))
    else:
        cursor = _Cursor(1)
    group = ([("updated_at", cursor.updated_from, "gteq")] if cursor.updated_from
             else [("state", ",".join(states), "in")])
    body = MagentoClient(ctx).get("orders", criteria([group], page_size=PAGE_SIZE, current_page=cursor.page,
                                                     sort=[("entity_id", "ASC")]))
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise TransientError(f"Magento answered GET orders without an items list: {str(body)[:200]}")
    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    for raw in items:
        remote_id = str(raw.get("entity_id", "?")) if isinstance(raw, dict) else "?"
        try:
            if not isinstance(raw, dict):
                raise MappingError(f"order is not an object: {raw!r}")
            status = order_status(raw, states)
            if status is None:
                continue
            orders.append(to_remote_order(raw, status))
        except (MappingError, ValueError) as exc:
            rejected.append(RejectedRecord(remote_id=remote_id, reason=str(exc),
                                           raw=raw if isinstance(raw, dict) else {}))
    # stop by total_count: Magento answers a page past the end with the last page again
    more = cursor.page < _pages(body.get("total_count"), PAGE_SIZE)
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected),
                     next_page_token=_Cursor(cursor.page + 1, cursor.updated_from).token() if more else None)


# --------------------------------------------------------------------------------------------
# Products and stock


def _page_number(token: str | None) -> int:
    try:
        return int(token) if token else 1
    except ValueError:
        raise RejectedByStore(f"invalid Magento page token {token!r}", code="invalid_page_token") from None


def _products(ctx: ConnectionContext, token: str | None) -> tuple[list[RemoteProduct], list[RejectedRecord],
                                                                   str | None]:
    page = _page_number(token)
    body = MagentoClient(ctx).get("products", criteria(
        [[("type_id", "simple", "eq")]], page_size=PAGE_SIZE, current_page=page, sort=[("entity_id", "ASC")]))
    products, rejected = [], []
    for raw in body.get("items") or []:
        try:
            products.append(to_remote_product(raw, ean_attribute=str(ctx.settings.get("ean_attribute") or "")))
        except (MappingError, ValueError, AttributeError) as exc:
            remote_id = str(raw.get("sku") or raw.get("id") or "?") if isinstance(raw, dict) else "?"
            rejected.append(RejectedRecord(remote_id=remote_id, reason=f"unreadable product: {exc}",
                                           raw=raw if isinstance(raw, dict) else {}))
    more = page < _pages(body.get("total_count"), PAGE_SIZE)
    return products, rejected, str(page + 1) if more else None


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage | None:
    if not _mine(ctx):
        return None
    products, rejected, next_token = _products(ctx, page_token)
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=next_token)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage | None:
    """The on-hand quantity per SKU: the source's items (MSI) or the legacy stock items."""
    if not _mine(ctx):
        return None
    if not _msi(ctx):
        products, _, next_token = _products(ctx, page_token)
        return StockPage(items=tuple(to_remote_stock({"sku": p.sku, "quantity": p.stock or 0}) for p in products),
                         next_page_token=next_token)
    page = _page_number(page_token)
    body = MagentoClient(ctx).get("inventory/source-items", criteria(
        [[("source_code", _source(ctx), "eq")]], page_size=STOCK_PAGE_SIZE, current_page=page,
        sort=[("sku", "ASC")]))
    items = []
    for raw in body.get("items") or []:
        try:
            items.append(to_remote_stock(raw))
        except MappingError:
            continue  # a source item without a SKU cannot be compared with anything
    more = page < _pages(body.get("total_count"), STOCK_PAGE_SIZE)
    return StockPage(items=tuple(items), next_page_token=str(page + 1) if more else None)


def _failed(update: StockUpdate, exc: Exception, kind: str) -> StockResult:
    return StockResult(remote_product_id=update.remote_product_id, ok=False, error=str(exc), error_kind=kind)


def _push_source_items(client: MagentoClient, source: str, chunk: Sequence[StockUpdate]) -> list[StockResult]:
    """One ``source-items`` save; Magento refuses the whole list for one bad SKU, so a refused
    list is split until the refused items stand alone."""
    body = {"sourceItems": [{"sku": u.remote_product_id, "source_code": source, "quantity": u.quantity,
                             "status": 1 if u.quantity > 0 else 0} for u in chunk]}
    try:
        client.send("POST", "inventory/source-items", body)
    except OutcomeUnknown as exc:  # absolute quantities: sending again is safe
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    except (RejectedByStore, NotFound) as exc:
        if len(chunk) == 1:
            return [_failed(chunk[0], exc, "rejected")]
        half = len(chunk) // 2
        return _push_source_items(client, source, chunk[:half]) + _push_source_items(client, source, chunk[half:])
    return [StockResult(remote_product_id=u.remote_product_id, ok=True) for u in chunk]


def _push_legacy(client: MagentoClient, update: StockUpdate) -> StockResult:
    """Read the stock item, then write it back whole with the new quantity (the spec requires
    every field). A product whose stock Magento does not manage would answer 200 and keep its
    stock, so it is refused here, by name."""
    sku = quote(update.remote_product_id, safe="")
    try:
        item = client.get(f"stockItems/{sku}")
        if not item.get("manage_stock", True):
            return StockResult(remote_product_id=update.remote_product_id, ok=False, error_kind="not_managed",
                               error=f"Magento does not manage stock for {update.remote_product_id} "
                                     "(Manage Stock is off), so it would ignore the quantity")
        item.update(qty=update.quantity, is_in_stock=update.quantity > 0)
        client.send("PUT", f"products/{sku}/stockItems/{int(item.get('item_id') or 1)}", {"stockItem": item})
    except OutcomeUnknown as exc:
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    except (RejectedByStore, NotFound) as exc:
        return _failed(update, exc, "not_found" if isinstance(exc, NotFound) else "rejected")
    return StockResult(remote_product_id=update.remote_product_id, ok=True)


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult] | None:
    if not _mine(ctx):
        return None
    client = MagentoClient(ctx)
    if not _msi(ctx):
        return [_push_legacy(client, u) for u in updates]
    results: list[StockResult] = []
    for start in range(0, len(updates), BATCH_SIZE):
        results += _push_source_items(client, _source(ctx), list(updates[start:start + BATCH_SIZE]))
    return results


# --------------------------------------------------------------------------------------------
# Shipments


def marker(shipment: ShipmentRequest) -> str:
    """The shipment comment that ties a Magento shipment to one Kade shipment."""
    return f"[Kade shipment {shipment.idempotency_key}]"


def carrier_code(carrier: str) -> str:
    low = carrier.strip().lower()
    return next((code for name, code in CARRIER_CODES.items() if low.startswith(name)), "custom")


def _order_id(request: ShipmentRequest | CancelRequest) -> int:
    try:
        return int(request.order_remote_id)
    except ValueError:
        raise NotFound(f"{request.order_remote_id!r} is not a Magento order entity_id") from None


def _find_shipment(client: MagentoClient, order_id: int, shipment: ShipmentRequest) -> str | None:
    """The store's shipment for this Kade shipment: our comment, or (a shipment made before the
    comment existed) one carrying the same tracking number."""
    body = client.get("shipments", criteria([[("order_id", str(order_id), "eq")]], page_size=STOCK_PAGE_SIZE))
    for found in body.get("items") or []:
        comments = [str(c.get("comment") or "") for c in found.get("comments") or [] if isinstance(c, dict)]
        tracks = [str(t.get("track_number") or "") for t in found.get("tracks") or [] if isinstance(t, dict)]
        if any(marker(shipment) in c for c in comments) or (shipment.tracking_code and
                                                            shipment.tracking_code in tracks):
            return str(found.get("entity_id"))
    return None


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    client = MagentoClient(ctx)
    order_id = _order_id(shipment)
    order = client.get(f"orders/{order_id}")
    state = str(order.get("state") or "")
    if order_status(order, ()) is RemoteOrderStatus.CANCELLED:
        raise RejectedByStore(f"order {shipment.order_number} is {state} in Magento", code="order_cancelled")
    if state == "holded":
        raise RejectedByStore(f"order {shipment.order_number} is on hold in Magento; release it to ship",
                              code="order_on_hold")
    existing = _find_shipment(client, order_id, shipment)
    if existing is not None:
        return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=existing)
    body: dict[str, Any] = {
        "items": [{"order_item_id": int(line.remote_line_id), "qty": line.quantity} for line in shipment.lines],
        "notify": _flag(ctx, "notify_customer", True),
        "appendComment": False,
        "comment": {"comment": marker(shipment), "is_visible_on_front": 0},
    }
    if shipment.tracking_code:
        body["tracks"] = [{"track_number": shipment.tracking_code, "title": shipment.carrier,
                           "carrier_code": carrier_code(shipment.carrier)}]
    if _msi(ctx):
        body["arguments"] = {"extension_attributes": {"source_code": _source(ctx)}}
    answer = client.send("POST", f"order/{order_id}/ship", body)
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=str(answer))


@hookimpl
def check_shipment(ctx: ConnectionContext, shipment: ShipmentRequest,
                   remote_reference: str | None) -> ShipmentResult | None:
    if not _mine(ctx):
        return None
    found = _find_shipment(MagentoClient(ctx), _order_id(shipment), shipment)
    return None if found is None else ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=found)


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult | None:
    if not _mine(ctx):
        return None
    if request.lines:
        raise RejectedByStore("Magento cannot cancel single lines; cancel the whole order or refund the lines "
                              "with a credit memo in the admin", code="partial_cancel_unsupported")
    client = MagentoClient(ctx)
    order_id = _order_id(request)
    try:
        cancelled = client.send("POST", f"orders/{order_id}/cancel", None)
    except OutcomeUnknown as exc:  # cancelling twice answers false, it never does harm
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    if cancelled is not True:
        state = client.get(f"orders/{order_id}").get("state")
        if state == "canceled":
            return CancelResult(ok=True, remote_reference=str(order_id))
        raise RejectedByStore(f"Magento would not cancel order {request.order_number} (state {state}): invoiced "
                              "or shipped orders need a credit memo, held orders a release", code="not_cancelled")
    return CancelResult(ok=True, remote_reference=str(order_id))


# --------------------------------------------------------------------------------------------
# Connections


def _probe(client: MagentoClient, ctx: ConnectionContext) -> str:
    """One signed read of the store configuration; the store view must exist."""
    configs = client.get("store/storeConfigs")
    code = str(ctx.settings.get("store_code") or "default")
    views = {str(c.get("code")): c for c in configs if isinstance(c, dict)} if isinstance(configs, list) else {}
    if code != "all" and code not in views:
        raise NotFound(f"store view {code!r} not found; the store has {', '.join(sorted(views)) or 'none'}")
    return str((views.get(code) or {}).get("base_url") or ctx.base_url)


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult | None:
    if not _mine(ctx):
        return None
    client = MagentoClient(ctx)
    try:
        base_url = _probe(client, ctx)
        if _msi(ctx):
            sources = client.get("inventory/sources", criteria([[("source_code", _source(ctx), "eq")]], page_size=1))
            if not sources.get("items"):
                return ConnectionTestResult(ok=False, message=f"MSI source {_source(ctx)!r} does not exist; set "
                                                              "source_code to one of the store's sources")
    except NotFound as exc:
        if exc.code == "no_route" and _msi(ctx):
            return ConnectionTestResult(ok=False, message="this Magento has no Inventory (MSI) API; set stock_api "
                                                          "to legacy")
        return ConnectionTestResult(ok=False, message=f"no Magento REST API at {ctx.base_url}: {exc.message}")
    return ConnectionTestResult(ok=True, message=f"connected to Magento at {base_url} ({ctx.auth_method})")


@hookimpl
def migrate_connection(ctx: ConnectionContext, target_auth_method: str,
                       new_credentials: Mapping[str, str]) -> MigrationResult | None:
    """Typically bearer → oauth1: the same integration, now with all four credentials, proven by a
    signed call before the core switches (the old token keeps working until then)."""
    if not _mine(ctx):
        return None
    fields = CREDENTIAL_FIELDS.get(target_auth_method)
    if fields is None:
        raise AuthRejected(f"Magento has no login method {target_auth_method!r}", code="unknown_auth_method")
    credentials = {k: str(new_credentials[k]).strip() for k in fields if new_credentials.get(k)}
    if target_auth_method == OAUTH1 and ctx.auth_method == BEARER and "access_token" not in credentials:
        credentials["access_token"] = ctx.credentials.get("access_token", "")
    client = MagentoClient(ctx, auth_method=target_auth_method, credentials=credentials)
    try:
        _probe(client, ctx)
    except AuthRejected as exc:
        raise AuthRejected(f"the new {target_auth_method} credentials were refused: {exc.message}",
                           status_code=exc.status_code, code=exc.code) from exc
    except NotFound as exc:
        raise AuthRejected(f"could not verify the new credentials: {exc.message}", code=exc.code) from exc
    return MigrationResult(auth_method=target_auth_method, credentials=credentials,
                           message=f"verified {target_auth_method} with a signed call to {ctx.base_url}")
