"""The bol.com platform plugin (Retailer API v10).

What is specific to bol, and handled here:

* orders are listed in pages of 50 (``{}`` when empty) and fetched one by one for details;
  orders bol fulfils entirely (FBB) need no detail call;
* every write is asynchronous: a 202 with a process status that turns SUCCESS or FAILURE later.
  Shipments wait a bounded time for it and otherwise report PENDING with the process id;
* shipments carry a ``shipmentReference`` derived from the shipment's idempotency key, which is how
  ``check_shipment`` recognises a shipment whose answer was lost;
* products and stock come from the CSV offer export (v10 has no offer list).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import structlog

from kade.errors import (
    AuthRejected,
    NotFound,
    PlatformError,
    RejectedByStore,
    UserError,
)
from kade.hookspecs import hookimpl
from kade.mapping import MappingError
from kade.plugins.bol import exports, order_pages, shipping
from kade.plugins.bol.auth import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    consent_expiry,
    refresh_token_expiry,
    request_token,
)
from kade.plugins.bol.client import SETTINGS, BolClient, process_id
from kade.plugins.bol.mapping import (
    is_bol_fulfilled,
    order_from_detail,
    order_from_list_entry,
    product_from_row,
    stock_from_row,
)
from kade.plugins.bol.protocol import (
    CANCEL_REASONS,
    MAX_SHIPMENT_ITEMS,
    MAX_STOCK,
    PAGE_SIZE,
)
from kade.plugins.bol.transporters import UnknownCarrierError, transporter_code
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
    RemoteShipmentState,
    RemoteStock,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
)

log = structlog.get_logger("kade.plugins.bol")

PLATFORM = PlatformSpec(
    name="bol",
    title="Bol.com",
    auth_methods=(AUTHORIZATION_CODE, CLIENT_CREDENTIALS),
    default_auth_method=AUTHORIZATION_CODE,
    capabilities=Capabilities(
        partial_shipments=True,
        tracking="every",
        stock_batch_size=1,
        stock_read=True,
        webhooks=False,
        cancel_order=True,
        order_poll_interval=300,
    ),
    settings=SETTINGS,
    credential_fields={
        CLIENT_CREDENTIALS: ("client_id", "client_secret"),
        AUTHORIZATION_CODE: ("client_id", "client_secret", "refresh_token"),
    },
)


@hookimpl
def kade_register_platforms() -> Iterator[PlatformSpec]:
    yield PLATFORM


# --------------------------------------------------------------------------------------------
# Orders


@hookimpl
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
    client = BolClient(ctx)
    token = query.page_token or order_pages.first_segment(query.since, ctx.now())
    params, full_page_next = order_pages.segment_params(token)
    params["fulfilment-method"] = client.settings.fulfilment_method
    listing = client.get_json("/retailer/orders", params)
    entries = listing.get("orders") or []  # bol answers {} for an empty page
    if not isinstance(entries, list):
        raise RejectedByStore("bol's order list has no orders array", code="malformed_page")

    orders: list[RemoteOrder] = []
    rejected: list[RejectedRecord] = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("orderId"), str) or not entry["orderId"]:
            raw = entry if isinstance(entry, dict) else {"entry": entry}
            rejected.append(
                RejectedRecord(remote_id=f"{token}#{n}", reason="order list entry without orderId", raw=raw)
            )
            continue
        order_id = entry["orderId"]
        raw = dict(entry)
        try:
            if is_bol_fulfilled(entry):
                # bol ships it all; Kade only records that it exists (and then ignores it)
                orders.append(order_from_list_entry(entry))
                continue
            raw = client.get_json(f"/retailer/orders/{quote(order_id, safe='')}")
            orders.append(order_from_detail(raw, entry))
        except MappingError as exc:
            rejected.append(RejectedRecord(remote_id=order_id, reason=str(exc), raw=raw))
        except NotFound as exc:
            rejected.append(
                RejectedRecord(remote_id=order_id, reason=f"listed but not found in detail: {exc}", raw=dict(entry))
            )
    next_token = full_page_next if len(entries) >= PAGE_SIZE else order_pages.after_short_page(token)
    return OrderPage(orders=tuple(orders), rejected=tuple(rejected), next_page_token=next_token)


@hookimpl
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    """Cancel whole order items (bol cancels an item's full open quantity, one item per call)."""
    client = BolClient(ctx)
    detail = client.get_json(f"/retailer/orders/{quote(request.order_remote_id, safe='')}")
    items = {str(i.get("orderItemId")): i for i in detail.get("orderItems") or [] if isinstance(i, dict)}

    def open_quantity(item: Mapping[str, Any]) -> int:
        return (
            int(item.get("quantity", 0)) - int(item.get("quantityShipped", 0)) - int(item.get("quantityCancelled", 0))
        )

    def by_bol(item: Mapping[str, Any]) -> bool:
        fulfilment = item.get("fulfilment")
        return isinstance(fulfilment, dict) and fulfilment.get("method") == "FBB"

    targets: list[str] = []
    if request.lines:
        for line in request.lines:
            item = items.get(line.remote_line_id)
            if item is None:
                raise RejectedByStore(
                    f"order {request.order_number} has no item {line.remote_line_id}", code="unknown_line"
                )
            if by_bol(item):
                raise RejectedByStore(f"item {line.remote_line_id} is fulfilled by bol", code="fulfilled_by_bol")
            remaining = open_quantity(item)
            if remaining == 0:
                continue
            if line.quantity < remaining:
                raise RejectedByStore(
                    f"bol cancels whole order items only: item {line.remote_line_id} has {remaining} open, "
                    f"{line.quantity} asked",
                    code="partial_cancel_unsupported",
                )
            targets.append(line.remote_line_id)
    else:
        targets = [i for i, item in items.items() if not by_bol(item) and open_quantity(item) > 0]
    if not targets:
        if any(int(item.get("quantityShipped", 0)) > 0 for item in items.values() if not by_bol(item)):
            raise RejectedByStore(f"order {request.order_number} is already shipped", code="already_shipped")
        return CancelResult(ok=True)

    reason = request.reason.strip().upper()
    reason = reason if reason in CANCEL_REASONS else "OTHER"
    processes = [
        client.send_json(
            "PUT", "/retailer/orders/cancellation", {"orderItems": [{"orderItemId": item_id, "reasonCode": reason}]}
        )
        for item_id in targets  # the API takes one item per request
    ]
    for process in processes:
        done = client.wait_for_process(process, client.settings.process_wait_seconds)
        if done.get("status") == "FAILURE":
            raise RejectedByStore(
                f"bol refused to cancel: {done.get('errorMessage') or 'no reason given'}", code="cancel_failed"
            )
    return CancelResult(ok=True, remote_reference=",".join(process_id(p) for p in processes))


# --------------------------------------------------------------------------------------------
# Shipments


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    client = BolClient(ctx)
    try:
        code = transporter_code(shipment.carrier, client.settings.fallback_transporter_code or None)
    except UnknownCarrierError as exc:
        raise RejectedByStore(str(exc), code="unknown_carrier") from exc
    except ValueError as exc:
        raise RejectedByStore(str(exc), code="bad_fallback_transporter") from exc
    if len(shipment.lines) > MAX_SHIPMENT_ITEMS:
        raise RejectedByStore(
            f"bol takes at most {MAX_SHIPMENT_ITEMS} order items per shipment, got {len(shipment.lines)}",
            code="too_many_items",
        )
    transport: dict[str, str] = {"transporterCode": code}
    if shipment.tracking_code:
        transport["trackAndTrace"] = shipment.tracking_code
    body = {
        "orderItems": [{"orderItemId": line.remote_line_id, "quantity": line.quantity} for line in shipment.lines],
        "shipmentReference": shipping.shipment_reference(shipment),
        "transport": transport,
    }
    process = client.send_json("POST", "/retailer/shipments", body)
    process = client.wait_for_process(process, client.settings.process_wait_seconds)
    return shipping.result(client, shipment, process)


@hookimpl
def check_shipment(
    ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
) -> ShipmentResult | None:
    """The shipment's state: its process status if known, else the order's shipments on bol."""
    client = BolClient(ctx)
    if remote_reference:
        try:
            process = client.process_status(remote_reference)
        except NotFound:
            process = None  # statuses expire after about 48 hours; the shipment list still knows
        if process is not None and process.get("status") in ("SUCCESS", "PENDING", "FAILURE"):
            return shipping.result(client, shipment, process)
    reference = shipping.shipment_reference(shipment)
    page = 1
    while True:
        listing = client.get_json("/retailer/shipments", {"order-id": shipment.order_remote_id, "page": page})
        found = listing.get("shipments") or []
        for entry in found:
            if isinstance(entry, dict) and entry.get("shipmentReference") == reference:
                return ShipmentResult(state=RemoteShipmentState.CONFIRMED,
                                      remote_reference=str(entry.get("shipmentId")))
        if len(found) < PAGE_SIZE:
            break
        page += 1
    if not shipment.lines:
        return None
    # not shipped (yet): a send whose answer was lost may still be processing
    statuses = (
        client.get_json(
            "/shared/process-status",
            {"entity-id": shipment.lines[0].remote_line_id, "event-type": "CREATE_SHIPMENT"},
        ).get("processStatuses")
        or []
    )
    pending = [p for p in statuses if isinstance(p, dict) and p.get("status") == "PENDING"]
    if pending:
        return ShipmentResult(state=RemoteShipmentState.PENDING, remote_reference=process_id(pending[0]))
    return None


# --------------------------------------------------------------------------------------------
# Stock and products


@hookimpl
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult]:
    client = BolClient(ctx)
    results: list[StockResult] = []
    for n, update in enumerate(updates):
        offer_id = update.remote_product_id
        if not offer_id:
            results.append(
                StockResult(remote_product_id=offer_id, ok=False, error="no bol offer id", error_kind="rejected")
            )
            continue
        body = {
            "amount": min(update.quantity, MAX_STOCK),
            "managedByRetailer": client.settings.stock_managed_by_retailer,
        }
        try:
            process = client.send_json("PUT", f"/retailer/offers/{quote(offer_id, safe='')}/stock", body)
        except (RejectedByStore, NotFound) as exc:
            results.append(StockResult(remote_product_id=offer_id, ok=False, error=exc.message, error_kind=exc.kind))
            continue
        except AuthRejected:
            raise
        except PlatformError as exc:
            if not results:
                raise
            # keep what was done; the rest is retried by the core according to the kind
            results.extend(
                StockResult(remote_product_id=u.remote_product_id, ok=False, error=exc.message, error_kind=exc.kind)
                for u in updates[n:]
            )
            break
        results.append(StockResult(remote_product_id=offer_id, ok=True, remote_reference=process_id(process)))
    return results


@hookimpl
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage:
    client = BolClient(ctx)
    rows, next_token = exports.read_page(client, page_token)
    products = []
    rejected = []
    for row in rows:
        try:
            products.append(product_from_row(row))
        except MappingError as exc:
            rejected.append(RejectedRecord(remote_id=row.get("offerId") or "?", reason=str(exc), raw=dict(row)))
    return ProductPage(products=tuple(products), rejected=tuple(rejected), next_page_token=next_token)


@hookimpl
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage:
    client = BolClient(ctx)
    rows, next_token = exports.read_page(client, page_token, reuse=False)
    items: list[RemoteStock] = []
    for row in rows:
        try:
            stock = stock_from_row(row)
        except MappingError as exc:
            log.warning("bol.offer_row_skipped", connection_id=ctx.connection_id, reason=str(exc))
            continue
        if stock is not None:
            items.append(stock)
    return StockPage(items=tuple(items), next_page_token=next_token)


# --------------------------------------------------------------------------------------------
# Connection


def _verify(client: BolClient, access_token: str | None = None) -> None:
    """One cheap authenticated call (first page of open orders)."""
    client.request(
        "GET",
        "/retailer/orders",
        params={"page": 1, "status": "OPEN", "fulfilment-method": "FBR"},
        bearer=access_token,
    )


@hookimpl
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult:
    # A refused login raises AuthRejected: the core moves the connection to needs_reauth.
    _verify(BolClient(ctx))
    expires = refresh_token_expiry(ctx.credentials) if ctx.auth_method == AUTHORIZATION_CODE else None
    method = "bol login (authorization code)" if ctx.auth_method == AUTHORIZATION_CODE else "API keys"
    message = f"connected to bol with {method}"
    if expires is not None:
        message += f"; the authorisation must be renewed before {expires:%Y-%m-%d}"
    return ConnectionTestResult(ok=True, message=message, credentials_expire_at=expires)


def _require(credentials: Mapping[str, str], *names: str) -> None:
    missing = [n for n in names if not credentials.get(n)]
    if missing:
        raise UserError(f"bol credentials lack {', '.join(missing)}")


@hookimpl
def migrate_connection(
    ctx: ConnectionContext, target_auth_method: str, new_credentials: Mapping[str, str]
) -> MigrationResult:
    """Verify new credentials with live calls and return them; nothing is stored or cached here.

    For the code flow, ``new_credentials`` holds the partner app's ``client_id``/``client_secret``
    and either the ``code`` (+ ``redirect_uri``) from the seller's consent or a ``refresh_token``.
    Refresh tokens rotate, so the result carries the newest one.
    """
    client = BolClient(ctx)
    login_url = client.settings.login_url
    _require(new_credentials, "client_id", "client_secret")
    client_id, secret = new_credentials["client_id"], new_credentials["client_secret"]
    if target_auth_method == AUTHORIZATION_CODE:
        if new_credentials.get("code"):
            _require(new_credentials, "redirect_uri")
            form = {
                "grant_type": "authorization_code",
                "code": new_credentials["code"],
                "redirect_uri": new_credentials["redirect_uri"],
            }
        elif new_credentials.get("refresh_token"):
            form = {"grant_type": "refresh_token", "refresh_token": new_credentials["refresh_token"]}
        else:
            raise UserError("migrating to bol's login needs the authorization code or a refresh token")
        body = request_token(ctx.http, login_url, client_id, secret, form)
        refresh = body.get("refresh_token") or new_credentials.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise AuthRejected("bol issued no refresh token; was offline_access granted?", code="no_refresh_token")
        _verify(client, str(body["access_token"]))
        expires = consent_expiry(refresh, ctx.now())
        credentials = {
            "client_id": client_id,
            "client_secret": secret,
            "refresh_token": refresh,
            "refresh_token_expires_at": expires.isoformat(),
        }
        message = f"switched to bol login; renew the authorisation before {expires:%Y-%m-%d}"
    elif target_auth_method == CLIENT_CREDENTIALS:
        body = request_token(ctx.http, login_url, client_id, secret, {"grant_type": "client_credentials"})
        _verify(client, str(body["access_token"]))
        credentials = {"client_id": client_id, "client_secret": secret}
        message = "switched to bol API keys (client credentials)"
    else:
        raise UserError(
            f"bol has no auth method {target_auth_method!r}; use {AUTHORIZATION_CODE} or {CLIENT_CREDENTIALS}"
        )
    log.info("bol.connection_migrated", connection_id=ctx.connection_id, to=target_auth_method)
    return MigrationResult(auth_method=target_auth_method, credentials=credentials, message=message)
