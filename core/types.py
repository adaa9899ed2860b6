"""The typed objects that cross the plugin boundary.

Plugins receive these as inputs and return them as results; they never see database rows.
Everything here is plain data (pydantic models), so plugins stay testable without a database.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kade.errors import PluginLoadError

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------------------------
# Registration


class SettingSpec(_Frozen):
    """One connection setting a platform accepts; the CLI validates values against it."""

    name: str
    type: Literal["str", "int", "bool", "choice"] = "str"
    default: str | int | bool | None = None
    choices: tuple[str, ...] = ()
    required: bool = False
    description: str = ""
    #: a secret (a signing key, an app secret): stored encrypted like credentials, never printed
    secret: bool = False

    def parse(self, raw: str | int | bool) -> str | int | bool:
        """Turn a user-given value into the typed value, or raise ``ValueError`` saying why."""
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            low = str(raw).strip().lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off"}:
                return False
            raise ValueError(f"{self.name} must be true or false, not {raw!r}")
        if self.type == "int":
            try:
                return int(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name} must be a whole number, not {raw!r}") from None
        if self.type == "choice":
            if str(raw) not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, not {raw!r}")
            return str(raw)
        return str(raw)


class Capabilities(_Frozen):
    """What a platform can do; the core adapts its behaviour to these (rule R8)."""

    partial_shipments: bool = True
    #: "every": tracking goes with each shipment; "first": only the first shipment carries it
    tracking: Literal["every", "first"] = "every"
    stock_batch_size: int = Field(default=1, ge=1, le=10_000)
    #: the plugin can stream the store's current stock for the nightly full check (needs ``read_stock``)
    stock_read: bool = False
    webhooks: bool = False
    #: the warehouse can cancel orders in the store (needs ``cancel_order``)
    cancel_order: bool = False
    #: default seconds between order polls
    order_poll_interval: int = Field(default=300, ge=10)
    #: requests per second per connection, enforced by the core across all workers (None: no limit)
    requests_per_second: float | None = Field(default=None, gt=0)
    request_burst: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _drop_removed(cls, data: Any) -> Any:
        """``complete_after_all`` and ``shipment_lines`` were removed (the core never read them; a
        plugin acts on ``ShipmentRequest.completes_order`` and ignores ``lines`` it cannot send):
        a plugin still passing them loads, with a warning, instead of failing validation."""
        if isinstance(data, dict) and _REMOVED_CAPABILITIES & data.keys():
            names = ", ".join(sorted(_REMOVED_CAPABILITIES & data.keys()))
            warnings.warn(f"Capabilities({names}) is no longer used and is ignored; remove it",
                          DeprecationWarning, stacklevel=2)
            data = {k: v for k, v in data.items() if k not in _REMOVED_CAPABILITIES}
        return data


_REMOVED_CAPABILITIES = frozenset({"complete_after_all", "shipment_lines"})


class PlatformSpec(_Frozen):
    """What a platform plugin registers through ``kade_register_platforms``."""

    name: str
    title: str
    auth_methods: tuple[str, ...]
    #: the auth method new connections get when none is given
    default_auth_method: str
    capabilities: Capabilities = Capabilities()
    settings: tuple[SettingSpec, ...] = ()
    #: credential fields per auth method, e.g. {"client_credentials": ("client_id", "client_secret")}
    credential_fields: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    #: deprecated and unused: nothing calls it. Simulators are reached through the harness.
    simulator: Callable[..., Any] | None = None
    #: deprecated: register the harness in the ``kade.harnesses`` entry-point group instead, so
    #: production never imports it (``kade.testing.harnesses``); the demo still honours it, warning
    harness: Callable[[], Any] | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = value.strip().lower().replace("-", "_")
        if not _NAME.match(value):
            raise PluginLoadError(
                f"platform name {value!r} is not valid: use 2-32 lowercase letters, digits or underscores"
            )
        return value

    def setting(self, name: str) -> SettingSpec | None:
        return next((s for s in self.settings if s.name == name), None)


# --------------------------------------------------------------------------------------------
# The connection a call is made for


class TokenStore(Protocol):
    """Shared, lock-protected storage for short-lived access tokens.

    Lets every worker process reuse one token for its lifetime instead of fetching one per call.
    """

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def lock(self, key: str, timeout: float = 30.0) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class ConnectionContext:
    """Everything a plugin may know about the connection it works for.

    ``save_credentials`` persists changed credentials (rotating refresh tokens) through the core,
    encrypted, so plugins never touch the database themselves.
    """

    connection_id: int
    tenant_id: int
    platform: str
    name: str
    auth_method: str
    base_url: str
    credentials: dict[str, str] = field(repr=False)
    http: httpx.Client = field(repr=False)
    tokens: TokenStore = field(repr=False)
    save_credentials: Callable[[dict[str, str]], None] = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)


# --------------------------------------------------------------------------------------------
# Orders


class OrderStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"


class Address(_Frozen):
    name: str = ""
    company: str = ""
    street: str = ""
    house_number: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""
    email: str = ""
    phone: str = ""


class RemoteOrderLine(_Frozen):
    remote_line_id: str
    sku: str | None = None
    ean: str | None = None
    name: str = ""
    quantity: int = Field(ge=0)
    quantity_cancelled: int = Field(default=0, ge=0)
    quantity_shipped: int = Field(default=0, ge=0)
    unit_price: Decimal = Decimal("0")
    #: fulfilled by the marketplace itself (Bol FBB/LVB); the core drops these lines (rule R2)
    fulfilled_by_marketplace: bool = False
    remote_product_id: str | None = None


class RemoteOrder(_Frozen):
    remote_id: str
    number: str
    status: OrderStatus = OrderStatus.OPEN
    #: the customer asked to cancel (Bol cancellation request); not yet a cancellation
    cancellation_requested: bool = False
    created_at: datetime
    updated_at: datetime
    currency: str = "EUR"
    total: Decimal = Decimal("0")
    billing_address: Address = Address()
    shipping_address: Address = Address()
    lines: tuple[RemoteOrderLine, ...]
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"currency {value!r} is not an ISO 4217 code")
        return value


class RejectedRecord(_Frozen):
    """A remote record the plugin could not translate; the core quarantines it with the reason."""

    remote_id: str
    reason: str
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


class OrderQuery(_Frozen):
    """Which orders to fetch: changed since ``since`` (None: everything open), page by page."""

    since: datetime | None = None
    page_token: str | None = None


class OrderPage(_Frozen):
    orders: tuple[RemoteOrder, ...] = ()
    rejected: tuple[RejectedRecord, ...] = ()
    #: None when this was the last page
    next_page_token: str | None = None


# --------------------------------------------------------------------------------------------
# Products and stock


class RemoteProduct(_Frozen):
    remote_id: str
    sku: str | None = None
    ean: str | None = None
    name: str = ""
    price: Decimal | None = None
    stock: int | None = None
    #: the store manages stock for this product (Woo ``manage_stock``, Bol ``managedByRetailer``)
    manages_stock: bool = True


class ProductPage(_Frozen):
    products: tuple[RemoteProduct, ...] = ()
    rejected: tuple[RejectedRecord, ...] = ()
    next_page_token: str | None = None


class StockUpdate(_Frozen):
    remote_product_id: str
    sku: str | None = None
    ean: str | None = None
    quantity: int = Field(ge=0)
    #: the quantity we last pushed, for platforms with compare-and-set semantics (Shopify)
    previous_quantity: int | None = None


class StockResult(_Frozen):
    """Per-item outcome of a stock push, so one rejected item never fails a batch."""

    remote_product_id: str
    ok: bool
    error: str | None = None
    error_kind: str | None = None
    remote_reference: str | None = None


# --------------------------------------------------------------------------------------------
# Shipments and cancellations


class ShipmentLine(_Frozen):
    remote_line_id: str
    sku: str | None = None
    quantity: int = Field(gt=0)


class ShipmentRequest(_Frozen):
    """One warehouse shipment to report to the order's origin store."""

    shipment_id: int
    order_remote_id: str
    order_number: str
    lines: tuple[ShipmentLine, ...]
    carrier: str
    tracking_code: str | None = None
    tracking_url: str | None = None
    #: whether this is the first reported shipment of the order
    first: bool = True
    #: whether every line of the order is shipped after this one: a platform whose order must be
    #: set complete (WooCommerce ``completed``, Shopware ``ship``) does it on this, and only this
    completes_order: bool = True
    #: stable across retries, for stores that accept an idempotency key
    idempotency_key: str


class ShipmentState(StrEnum):
    CONFIRMED = "confirmed"
    #: accepted for asynchronous processing; check again with ``check_shipment``
    PENDING = "pending"


class ShipmentResult(_Frozen):
    state: ShipmentState
    remote_reference: str | None = None


class CancelRequest(_Frozen):
    order_remote_id: str
    order_number: str
    #: lines to cancel with quantities; empty means the whole order
    lines: tuple[ShipmentLine, ...] = ()
    reason: str = "out_of_stock"


class CancelResult(_Frozen):
    ok: bool
    remote_reference: str | None = None


# --------------------------------------------------------------------------------------------
# Connection tests, migrations, webhooks


class ConnectionTestResult(_Frozen):
    ok: bool
    message: str = ""
    #: credentials that expire (Bol refresh tokens after 365 days) report when
    credentials_expire_at: datetime | None = None


class MigrationResult(_Frozen):
    """The outcome of ``migrate_connection``: the new auth method and its verified credentials."""

    auth_method: str
    credentials: dict[str, str] = Field(repr=False)
    message: str = ""


class WebhookEvent(_Frozen):
    """A verified webhook delivery, reduced to what the core needs to act on it."""

    delivery_id: str
    topic: Literal["order_created", "order_updated", "order_cancelled", "product_updated", "ping"]
    remote_id: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict, repr=False)
    #: when the platform signs a timestamp with the body: the core refuses it outside a window
    signed_at: datetime | None = None


class RemoteStock(_Frozen):
    remote_product_id: str
    sku: str | None = None
    ean: str | None = None
    quantity: int | None = None


class StockPage(_Frozen):
    items: tuple[RemoteStock, ...] = ()
    next_page_token: str | None = None


def iter_pages(fetch: Callable[[str | None], StockPage]) -> Iterator[RemoteStock]:
    """Stream every item of a paged stock read without holding more than one page."""
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page.items
        if page.next_page_token is None:
            return
        token = page.next_page_token
