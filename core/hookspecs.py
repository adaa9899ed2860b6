"""The contract between Kade and its platform plugins.

A platform plugin is a module (or object) registered under the ``kade`` entry-point group.
It implements ``kade_register_platforms`` once, plus the operation hooks below. Kade never
broadcasts an operation: each call is routed to the one plugin that registered the connection's
platform (see ``kade.manager``), so operation hooks are ``firstresult`` and every
implementation can assume the connection is its own.

Rules every implementation follows:

* translate only: typed inputs → API calls, API responses → typed results;
* never touch the database, the queue or another connection;
* raise the ``kade.errors.PlatformError`` family for failures — ``AuthRejected``,
  ``RateLimited(retry_after=...)``, ``TransientError``, ``OutcomeUnknown``,
  ``RejectedByStore`` (with the store's reason), ``NotFound``;
* make HTTP calls only through ``ctx.http``; the core sets its base URL, timeouts and transport.

Hooks may accept fewer arguments than specified (pluggy's opt-in arguments), which lets the
core add arguments later without breaking plugins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pluggy

from kade.types import (
    CancelRequest,
    CancelResult,
    ConnectionContext,
    ConnectionTestResult,
    MigrationResult,
    OrderPage,
    OrderQuery,
    PlatformSpec,
    ProductPage,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

PROJECT = "kade"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def kade_register_platforms() -> Iterable[PlatformSpec]:
    """Declare the platforms this plugin provides.

    :return: one ``PlatformSpec`` per platform (name, auth methods, capabilities, settings).
        Two plugins claiming one name stop Kade with an error naming both packages.

    Example::

        @hookimpl
        def kade_register_platforms():
            yield PlatformSpec(name="acme", title="Acme Shop", auth_methods=("api_key",),
                               default_auth_method="api_key",
                               capabilities=Capabilities(stock_batch_size=50))
    """


@hookspec(firstresult=True)
def import_orders(ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
    """Fetch one page of orders created or changed since ``query.since``.

    :param ctx: the connection.
    :param query: ``since`` (None on the first import: all open orders) and the page token
        returned by the previous page.
    :return: the orders, the records that could not be translated (``rejected``, each with a
        reason; the core quarantines them and imports the rest) and the next page token
        (None on the last page). Cancelled orders and cancelled quantities are reported as such.
    """


@hookspec(firstresult=True)
def read_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage:
    """Fetch one page of the store's product catalogue, which the core links to warehouse
    products by SKU/EAN (creating unknown ones unless the connection's ``import_products``
    setting is off).

    :param ctx: the connection.
    :param page_token: None for the first page, then the token the previous page returned.
    :return: the products, the records that could not be translated (``rejected``) and the next
        page token (None on the last page).
    """


#: the warning a plugin still implementing the old name gets once, when it is registered
IMPORT_PRODUCTS_RENAMED = DeprecationWarning(
    "the import_products hook was renamed read_products: implement read_products instead "
    "(import_products is still called when read_products is absent, until it is removed)"
)


@hookspec(firstresult=True, warn_on_impl=IMPORT_PRODUCTS_RENAMED)
def import_products(ctx: ConnectionContext, page_token: str | None) -> ProductPage:
    """Deprecated name of ``read_products``.

    Kept so that a plugin written against it still loads (with a ``DeprecationWarning``) and its
    catalogue is still read; a plugin implementing both is called through ``read_products`` only.

    :param page_token: as for ``read_products``.
    """


@hookspec(firstresult=True)
def read_stock(ctx: ConnectionContext, page_token: str | None) -> StockPage:
    """Fetch one page of the store's current stock levels, for the nightly full check.

    Pages must be small enough that the core can stream a million products in bounded memory.

    :param page_token: None for the first page, then the token the previous page returned.
    :return: the items and the next page token (None on the last page).
    """


@hookspec(firstresult=True)
def push_stock(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> Sequence[StockResult]:
    """Set stock levels on the store.

    :param ctx: the connection.
    :param updates: at most ``capabilities.stock_batch_size`` items, one per remote product.
    :return: one ``StockResult`` per update, in any order. A single rejected item is a result
        with ``ok=False``, never an exception; raise only when the whole call failed.
    """


@hookspec(firstresult=True)
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    """Report one warehouse shipment with its carrier and tracking to the order's store.

    The core has already applied the platform's capabilities (partial shipments, tracking on
    the first shipment only, completion).

    :param shipment: the lines and quantities shipped, carrier and tracking, whether it is the
        first shipment and whether it completes the order, and a stable idempotency key.

    Raise ``OutcomeUnknown`` when the request may have
    been applied (timeout after sending); the core then calls ``check_shipment`` before sending
    again. Raise ``RejectedByStore(code="order_cancelled")`` when the store refuses because
    the order was cancelled.

    :return: ``CONFIRMED``, or ``PENDING`` with a ``remote_reference`` for asynchronous stores.
    """


@hookspec(firstresult=True)
def check_shipment(
    ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
) -> ShipmentResult | None:
    """Ask the store whether a shipment was applied, after an unknown outcome or while pending.

    :param shipment: the same request that was sent before.
    :param remote_reference: what ``report_shipment`` returned, if anything did.
    :return: the shipment's state on the store, or None when the store has no trace of it
        (then it is safe to send again).
    """


@hookspec(firstresult=True)
def cancel_order(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    """Cancel an order (or some of its lines) on the store, initiated by the warehouse.

    :param request: the order, the lines with quantities (empty: the whole order) and a reason.
    :return: ``CancelResult``; raise ``RejectedByStore`` when the store refuses (e.g. shipped).
    """


@hookspec(firstresult=True)
def check_connection(ctx: ConnectionContext) -> ConnectionTestResult:
    """Make one cheap authenticated call to prove the credentials and base URL work.

    :param ctx: the connection.
    :return: ``ConnectionTestResult``, with ``credentials_expire_at`` when the credentials expire;
        ``ok=False`` with the reason for a store that answers but is not usable (wrong URL, no API).
        Raise ``AuthRejected`` when the store refuses the login: the core moves the connection to
        ``needs_reauth``.
    """


@hookspec(firstresult=True)
def migrate_connection(
    ctx: ConnectionContext, target_auth_method: str, new_credentials: Mapping[str, str]
) -> MigrationResult:
    """Move a connection to another login method.

    Verify ``new_credentials`` with a live call (exchange codes, fetch a token) before
    returning.

    :param target_auth_method: one of the platform's declared auth methods.
    :param new_credentials: the credentials for that method, as the operator gave them.
    :return: ``MigrationResult`` with the credentials to store (e.g. the issued refresh token).

    The core switches the connection only after this returns, and keeps the old
    credentials working until then. Raise ``AuthRejected`` when the new credentials fail.
    """


@hookspec(firstresult=True)
def verify_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool:
    """Check a webhook delivery's signature over the raw body.

    :param headers: the delivery's HTTP headers (case-insensitive mapping).
    :param body: the raw body bytes, exactly as received.
    :return: True when the delivery is authentic; raise ``WebhookRejected`` (or return False)
        otherwise.
    """


@hookspec(firstresult=True)
def parse_webhook(ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
    """Turn a verified delivery into a ``WebhookEvent`` (None for topics Kade ignores).

    :param headers: the delivery's HTTP headers; the delivery id used for dedupe comes from here.
    :param body: the raw body bytes.
    """
