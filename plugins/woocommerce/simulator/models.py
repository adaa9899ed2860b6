"""What a simulated WooCommerce store holds (keys, orders, products, webhooks) and WP's wire helpers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

JSON = dict[str, Any]

#: WooCommerce core's default batch limit (``woocommerce_rest_batch_items_limit``)
BATCH_LIMIT = 100
#: ``WC_REST_Authentication::check_oauth_timestamp_and_nonce``: 15 minutes either way
OAUTH_WINDOW = 15 * 60
#: ``woocommerce_max_webhook_delivery_failures``
MAX_WEBHOOK_FAILURES = 5

ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed")
WEBHOOK_RESOURCES = ("order", "product", "customer", "coupon")
WEBHOOK_EVENTS = ("created", "updated", "deleted", "restored")
TRACKING_PROVIDERS: dict[str, str] = {
    "PostNL": "https://postnl.nl/tracktrace/?B=%1$s&P=%2$s",
    "DHL": "https://www.dhl.com/en/express/tracking.html?AWB=%1$s",
    "DPD": "https://tracking.dpd.de/parcelstatus?query=%1$s",
    "UPS": "https://www.ups.com/track?tracknum=%1$s",
    "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
    "Fedex": "https://www.fedex.com/apps/fedextrack/?tracknumbers=%1$s",
}


def _version(value: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", value)[:3])


def _rfc3986(value: str) -> str:
    """PHP ``rawurlencode``: everything but unreserved characters is percent-encoded."""
    return quote(value, safe="-_.~")


def oauth_base_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """The OAuth 1.0a signature base string as ``WC_REST_Authentication`` builds it."""
    pairs = [f"{_rfc3986(k)}={_rfc3986(v)}" for k, v in sorted(params.items()) if k != "oauth_signature"]
    return "&".join([method.upper(), _rfc3986(url), "%26".join(_rfc3986(p) for p in pairs)])


def oauth_signature(method: str, url: str, params: Mapping[str, str], secret: str, algorithm: str) -> str:
    digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}[algorithm]
    raw = hmac.new(f"{secret}&".encode(), oauth_base_string(method, url, params).encode(), digest).digest()
    return base64.b64encode(raw).decode()


def wp_json(payload: Any) -> bytes:
    """``wp_json_encode`` output: compact, ASCII-only, slashes escaped (signatures cover these bytes)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


class WPError(Exception):
    """A ``WP_Error`` on its way to becoming a JSON response."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> JSON:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


# --------------------------------------------------------------------------------------------
# State


@dataclass
class ApiKey:
    key_id: int
    user_id: int
    consumer_key: str
    consumer_secret: str
    permissions: str = "read_write"
    description: str = ""
    #: nonce → timestamp, pruned after the OAuth window
    nonces: dict[str, float] = field(default_factory=dict)


@dataclass
class Note:
    id: int
    note: str
    customer_note: bool
    created: datetime
    author: str = "WooCommerce"


@dataclass
class Tracking:
    tracking_id: str
    tracking_provider: str
    tracking_number: str
    date_shipped: str
    custom_tracking_provider: str = ""
    custom_tracking_link: str = ""


@dataclass
class LineItem:
    id: int
    product_id: int
    variation_id: int
    name: str
    sku: str
    quantity: int
    price: Decimal


@dataclass
class Refund:
    id: int
    reason: str
    created: datetime
    #: original line item id → quantity refunded (positive)
    quantities: dict[int, int]
    amount: Decimal


@dataclass
class Order:
    id: int
    number: str
    status: str
    currency: str
    created: datetime
    modified: datetime
    billing: JSON
    shipping: JSON
    line_items: list[LineItem]
    shipping_total: Decimal = Decimal("4.95")
    payment_method: str = "ideal"
    customer_note: str = ""
    meta_data: list[JSON] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    trackings: list[Tracking] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    completed: datetime | None = None
    order_key: str = ""
    #: fields replaced (or removed, with value ``...``) at render time: malformed-data tests
    patch: JSON = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((li.price * li.quantity for li in self.line_items), Decimal("0")) + self.shipping_total


@dataclass
class Product:
    id: int
    name: str
    type: str  # simple | variable | grouped | external | variation
    sku: str
    price: Decimal
    manage_stock: bool | str  # variations may say "parent"
    stock_quantity: int | None
    created: datetime
    modified: datetime
    status: str = "publish"
    parent_id: int = 0
    variation_ids: list[int] = field(default_factory=list)
    backorders: str = "no"
    global_unique_id: str = ""
    meta_data: list[JSON] = field(default_factory=list)

    @property
    def stock_status(self) -> str:
        if self.manage_stock is not True or self.stock_quantity is None:
            return "instock"
        if self.stock_quantity > 0:
            return "instock"
        return "outofstock" if self.backorders == "no" else "onbackorder"


@dataclass
class Webhook:
    id: int
    name: str
    topic: str
    delivery_url: str
    secret: str
    status: str
    created: datetime
    failures: int = 0


@dataclass
class WebhookDelivery:
    """One POST the store would make to a webhook's delivery URL."""

    webhook_id: int
    url: str
    headers: dict[str, str]
    body: bytes
    topic: str  # "" for the creation ping
    status_code: int | None = None


@dataclass
class AuthCallback:
    """The POST ``/wc-auth/v1/access_granted`` makes to the app's ``callback_url``."""

    url: str
    body: bytes
    status_code: int | None = None

    def json(self) -> JSON:
        value: JSON = json.loads(self.body)
        return value


