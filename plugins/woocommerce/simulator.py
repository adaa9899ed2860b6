"""A stateful WooCommerce store speaking REST API v3, as an ASGI app.

It behaves like a real store where it matters to an integration: WooCommerce's own
authentication (Basic only over HTTPS, one-legged OAuth 1.0a with timestamp window and nonce
replay protection), WP REST argument validation and error bodies, ``X-WP-Total`` paging, the
date-filter semantics of each WooCommerce version (``dates_are_gmt`` from 5.4, ``modified_after``
from 5.8; unknown query arguments are silently ignored, as WP does), order notes, the Shipment
Tracking extension (only when installed), product/variation batches capped at 100 items, the
``/wc-auth/v1`` key-issuing flow, webhook deliveries signed like ``WC_Webhook::deliver`` and
host-level rate limits. Faults come from ``kade.sim.base.Faults`` (at random) and from
``WooState.inject`` (the next matching requests, deterministically).

Everything the outside world would observe but a socket cannot carry in-process (webhook
deliveries, the wc-auth callback POST) is kept on the state object for tests to read or send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import random
import re
import secrets
import string
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx

from kade.sim.base import (
    Faults,
    RateLimit,
    RateLimiter,
    ScriptedFault,
    ScriptedFaults,
    SimClock,
    SimulatedTimeout,
    maybe_delay,
)

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


class DroppedAnswer(SimulatedTimeout, httpx.ReadTimeout):
    """The store never answered; in-process this surfaces to the client as ``httpx.ReadTimeout``."""

    def __init__(self, message: str = "simulated timeout: the store did not answer") -> None:
        SimulatedTimeout.__init__(self, message)
        httpx.ReadTimeout.__init__(self, message)


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


class WooState:
    """Everything a WooCommerce store holds, plus store settings that change its API behaviour.

    :param wc_version: WooCommerce version; below 5.4 ``dates_are_gmt`` is ignored, below 5.8
        ``modified_after``/``modified_before`` are ignored (WP drops unknown arguments).
    :param timezone: the store's WordPress timezone; non-GMT dates and date filters without
        ``dates_are_gmt`` are in this zone.
    :param shipment_tracking: the Shipment Tracking extension is installed.
    :param rate_limit: host-level limit per client (WooCommerce core has none on ``wc/v3``;
        many hosts put one in front), answered with 429 and ``Retry-After``.
    :param strips_authorization: the host drops the ``Authorization`` header (keys must then
        go in the query string).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: SimClock | None = None,
        faults: Faults | None = None,
        https: bool = True,
        wc_version: str = "9.4.0",
        timezone: str = "Europe/Amsterdam",
        shipment_tracking: bool = False,
        rate_limit: RateLimit | None = None,
        strips_authorization: bool = False,
        currency: str = "EUR",
    ) -> None:
        self.clock = clock or SimClock()
        self.faults = faults or Faults()
        self.https = https
        self.wc_version = wc_version
        self.timezone = timezone
        self.shipment_tracking = shipment_tracking
        self.strips_authorization = strips_authorization
        self.currency = currency
        self.rng = random.Random(seed)
        self.limiter = RateLimiter(self.clock, {"host": rate_limit} if rate_limit else {})
        self.lock = threading.RLock()
        self.keys: dict[str, ApiKey] = {}
        self.orders: dict[int, Order] = {}
        self.products: dict[int, Product] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.webhook_outbox: list[WebhookDelivery] = []
        self.webhook_log: list[WebhookDelivery] = []
        self.auth_requests: dict[str, dict[str, str]] = {}
        self.auth_callbacks: list[AuthCallback] = []
        #: sends the wc-auth callback POST; None records it and treats it as answered 200
        self.auth_callback_sender: Callable[[str, bytes], int] | None = None
        #: every request served, as (method, path, query params, auth kind); tests read it
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        self._ids = {"post": 100, "item": 1000, "comment": 5000, "key": 0, "webhook": 0}
        self.scripted_faults = ScriptedFaults()

    # ------------------------------------------------------------------ helpers

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> datetime:
        # WordPress stores dates with second resolution
        return datetime.fromtimestamp(int(self.clock.now()), UTC)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def supports(self, feature: str) -> bool:
        needed = {"dates_are_gmt": (5, 4), "modified_after": (5, 8), "global_unique_id": (9, 2)}[feature]
        return _version(self.wc_version) >= needed

    def local(self, when: datetime | None) -> str | None:
        return None if when is None else when.astimezone(self.tz).replace(tzinfo=None).isoformat(timespec="seconds")

    @staticmethod
    def gmt(when: datetime | None) -> str | None:
        return None if when is None else when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ scripted faults

    def inject(
        self,
        kind: Literal["error", "rate_limit", "timeout", "timeout_after_apply"],
        path: str = "/",
        *,
        method: str | None = None,
        status: int = 500,
        retry_after: float = 1.0,
        count: int = 1,
    ) -> ScriptedFault:
        """Make the next ``count`` requests matching ``method`` and ``path`` fail in a given way.

        ``error`` answers ``status`` with WordPress's critical-error body; ``rate_limit`` answers
        429 with ``Retry-After``, as a host's limiter does; ``timeout`` drops the request unapplied;
        ``timeout_after_apply`` applies it and drops the answer.
        """
        return self.scripted_faults.add(
            ScriptedFault(kind, path, method, status, count=count, retry_after=retry_after))

    # ------------------------------------------------------------------ keys

    def create_api_key(self, permissions: str = "read_write", *, description: str = "", user_id: int = 1) -> ApiKey:
        """A key as WooCommerce > Settings > Advanced > REST API creates it."""
        with self.lock:
            key = ApiKey(
                key_id=self.next_id("key"),
                user_id=user_id,
                consumer_key="ck_" + secrets.token_hex(20),
                consumer_secret="cs_" + secrets.token_hex(20),
                permissions=permissions,
                description=description,
            )
            self.keys[key.consumer_key] = key
            return key

    def revoke_api_key(self, consumer_key: str) -> None:
        with self.lock:
            self.keys.pop(consumer_key, None)

    # ------------------------------------------------------------------ catalogue

    def add_product(
        self,
        *,
        sku: str,
        name: str | None = None,
        price: str = "9.95",
        stock: int | None = 10,
        manage_stock: bool = True,
        type: str = "simple",
        global_unique_id: str = "",
    ) -> Product:
        with self.lock:
            now = self.now()
            product = Product(
                id=self.next_id("post"),
                name=name or f"Product {sku}",
                type=type,
                sku=sku,
                price=Decimal(price),
                manage_stock=manage_stock,
                stock_quantity=stock if manage_stock else None,
                created=now,
                modified=now,
                global_unique_id=global_unique_id,
            )
            self.products[product.id] = product
            return product

    def add_variation(
        self,
        parent: Product,
        *,
        sku: str,
        price: str | None = None,
        stock: int | None = 10,
        manage_stock: bool | str = True,
        global_unique_id: str = "",
    ) -> Product:
        with self.lock:
            now = self.now()
            variation = Product(
                id=self.next_id("post"),
                name=f"{parent.name} - {sku}",
                type="variation",
                sku=sku,
                price=Decimal(price) if price else parent.price,
                manage_stock=manage_stock,
                stock_quantity=stock if manage_stock is True else None,
                created=now,
                modified=now,
                parent_id=parent.id,
                global_unique_id=global_unique_id,
            )
            self.products[variation.id] = variation
            parent.type = "variable"
            parent.variation_ids.append(variation.id)
            return variation

    def generate_products(self, count: int, *, variable_every: int = 5, variations: int = 3) -> list[Product]:
        """A seedable catalogue: simple products, and every ``variable_every``-th one variable."""
        made: list[Product] = []
        with self.lock:
            start = len([p for p in self.products.values() if p.parent_id == 0])
            for i in range(start + 1, start + count + 1):
                sku = f"SKU-{i:05d}"
                price = f"{self.rng.randint(300, 9900) / 100:.2f}"
                if variable_every and i % variable_every == 0:
                    parent = self.add_product(sku=sku, price=price, manage_stock=False, stock=None)
                    for size in ("S", "M", "L", "XL")[:variations]:
                        self.add_variation(
                            parent, sku=f"{sku}-{size}", stock=self.rng.randint(0, 50), global_unique_id=_ean(i, size)
                        )
                    made.append(parent)
                else:
                    made.append(
                        self.add_product(
                            sku=sku, price=price, stock=self.rng.randint(0, 50), global_unique_id=_ean(i, "")
                        )
                    )
        return made

    def sellable(self) -> list[Product]:
        return [p for p in self.products.values() if p.type in ("simple", "variation")]

    # ------------------------------------------------------------------ orders

    def create_order(
        self,
        lines: Iterable[tuple[Product, int]] = (),
        *,
        status: str = "processing",
        created: datetime | None = None,
        currency: str | None = None,
        emit: bool = True,
    ) -> Order:
        """An order as checkout creates it (fires ``order.created`` webhooks when ``emit``)."""
        with self.lock:
            when = created or self.now()
            order_id = self.next_id("post")
            first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
            city, postcode = self.rng.choice(_CITIES)
            street = f"{self.rng.choice(_STREETS)} {self.rng.randint(1, 250)}"
            email = f"{first.lower()}.{last.lower().replace(' ', '')}@example.com"
            billing = {
                "first_name": first,
                "last_name": last,
                "company": "",
                "address_1": street,
                "address_2": "",
                "city": city,
                "state": "",
                "postcode": postcode,
                "country": "NL",
                "email": email,
                "phone": f"06{self.rng.randint(10000000, 99999999)}",
            }
            shipping = {k: v for k, v in billing.items() if k != "email"}
            items: list[LineItem] = []
            for product, quantity in lines:
                parent = self.products.get(product.parent_id) if product.parent_id else None
                items.append(
                    LineItem(
                        id=self.next_id("item"),
                        product_id=parent.id if parent else product.id,
                        variation_id=product.id if parent else 0,
                        name=product.name,
                        sku=product.sku,
                        quantity=quantity,
                        price=product.price,
                    )
                )
            order = Order(
                id=order_id,
                number=str(order_id),
                status=status,
                currency=currency or self.currency,
                created=when,
                modified=when,
                billing=billing,
                shipping=shipping,
                line_items=items,
                order_key="wc_order_" + "".join(self.rng.choices(string.ascii_letters + string.digits, k=13)),
            )
            self.orders[order_id] = order
            if emit:
                self.emit("order.created", order)
            return order

    def generate_orders(
        self, count: int, *, status: str = "processing", spacing: float = 60.0, emit: bool = False
    ) -> list[Order]:
        """A seedable batch of orders, created ``spacing`` seconds apart up to now."""
        with self.lock:
            if not self.sellable():
                self.generate_products(20)
            pool = sorted(self.sellable(), key=lambda p: p.id)
            now = self.now()
            made = []
            for i in range(count):
                chosen = self.rng.sample(pool, k=min(len(pool), self.rng.randint(1, 3)))
                lines = [(p, self.rng.randint(1, 3)) for p in chosen]
                when = now - timedelta(seconds=spacing * (count - i))
                made.append(self.create_order(lines, status=status, created=when, emit=emit))
            return made

    def set_order_status(self, order: Order, status: str) -> None:
        """A status change made in wp-admin or by a payment gateway (not through the API)."""
        with self.lock:
            self._change_status(order, status)
            self.emit("order.updated", order)

    def _change_status(self, order: Order, status: str) -> None:
        if status == order.status:
            return
        labels = {"on-hold": "On hold"}
        old = labels.get(order.status, order.status.capitalize())
        new = labels.get(status, status.capitalize())
        order.status = status
        order.modified = self.now()
        if status == "completed":
            order.completed = order.modified
        order.notes.append(
            Note(self.next_id("comment"), f"Order status changed from {old} to {new}.", False, order.modified)
        )

    def refund_lines(self, order: Order, quantities: Mapping[int, int], reason: str = "") -> Refund:
        """A (partial) refund of line items made in wp-admin."""
        with self.lock:
            amount = Decimal("0")
            for item in order.line_items:
                amount += item.price * quantities.get(item.id, 0)
            refund = Refund(self.next_id("post"), reason, self.now(), dict(quantities), amount)
            order.refunds.append(refund)
            order.modified = refund.created
            self.emit("order.updated", order)
            return refund

    def malform(self, order: Order, **patch: Any) -> None:
        """Make an order render with broken fields (``...`` removes a field)."""
        with self.lock:
            order.patch.update(patch)

    # ------------------------------------------------------------------ rendering

    def render_order(self, order: Order) -> JSON:
        data: JSON = {
            "id": order.id,
            "parent_id": 0,
            "status": order.status,
            "currency": order.currency,
            "version": self.wc_version,
            "prices_include_tax": True,
            "date_created": self.local(order.created),
            "date_modified": self.local(order.modified),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": f"{order.shipping_total:.2f}",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": f"{order.total:.2f}",
            "total_tax": "0.00",
            "customer_id": 0,
            "order_key": order.order_key,
            "billing": dict(order.billing),
            "shipping": dict(order.shipping),
            "payment_method": order.payment_method,
            "payment_method_title": "iDEAL",
            "transaction_id": "",
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": "checkout",
            "customer_note": order.customer_note,
            "date_completed": self.local(order.completed),
            "date_paid": self.local(order.created),
            "cart_hash": "",
            "number": order.number,
            "meta_data": list(order.meta_data),
            "line_items": [
                {
                    "id": li.id,
                    "name": li.name,
                    "product_id": li.product_id,
                    "variation_id": li.variation_id,
                    "quantity": li.quantity,
                    "tax_class": "",
                    "subtotal": f"{li.price * li.quantity:.2f}",
                    "subtotal_tax": "0.00",
                    "total": f"{li.price * li.quantity:.2f}",
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                    "sku": li.sku,
                    "price": float(li.price),
                    "parent_name": None,
                }
                for li in order.line_items
            ],
            "tax_lines": [],
            "shipping_lines": [
                {
                    "id": order.id * 10,
                    "method_title": "Flat rate",
                    "method_id": "flat_rate",
                    "total": f"{order.shipping_total:.2f}",
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            ],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [{"id": r.id, "reason": r.reason, "total": f"-{r.amount:.2f}"} for r in order.refunds],
            "date_created_gmt": self.gmt(order.created),
            "date_modified_gmt": self.gmt(order.modified),
            "date_completed_gmt": self.gmt(order.completed),
            "date_paid_gmt": self.gmt(order.created),
            "currency_symbol": "€" if order.currency == "EUR" else "$",
            "_links": {
                "self": [{"href": f"/wp-json/wc/v3/orders/{order.id}"}],
                "collection": [{"href": "/wp-json/wc/v3/orders"}],
            },
        }
        for key, value in order.patch.items():
            if value is ...:
                data.pop(key, None)
            else:
                data[key] = value
        return data

    def render_refund(self, order: Order, refund: Refund) -> JSON:
        items = {li.id: li for li in order.line_items}
        return {
            "id": refund.id,
            "date_created": self.local(refund.created),
            "date_created_gmt": self.gmt(refund.created),
            "amount": f"{refund.amount:.2f}",
            "reason": refund.reason,
            "refunded_by": 1,
            "refunded_payment": False,
            "meta_data": [],
            "line_items": [
                {
                    "id": refund.id * 100 + n,
                    "name": items[item_id].name,
                    "product_id": items[item_id].product_id,
                    "variation_id": items[item_id].variation_id,
                    "quantity": -qty,
                    "subtotal": f"-{items[item_id].price * qty:.2f}",
                    "total": f"-{items[item_id].price * qty:.2f}",
                    "sku": items[item_id].sku,
                    "price": -float(items[item_id].price),
                    "meta_data": [{"id": 0, "key": "_refunded_item_id", "value": str(item_id)}],
                }
                for n, (item_id, qty) in enumerate(refund.quantities.items())
                if item_id in items
            ],
        }

    def render_note(self, note: Note) -> JSON:
        return {
            "id": note.id,
            "author": note.author,
            "date_created": self.local(note.created),
            "date_created_gmt": self.gmt(note.created),
            "note": note.note,
            "customer_note": note.customer_note,
        }

    def render_product(self, product: Product) -> JSON:
        data: JSON = {
            "id": product.id,
            "name": product.name,
            "slug": re.sub(r"[^a-z0-9]+", "-", product.name.lower()).strip("-"),
            "date_created": self.local(product.created),
            "date_created_gmt": self.gmt(product.created),
            "date_modified": self.local(product.modified),
            "date_modified_gmt": self.gmt(product.modified),
            "type": product.type,
            "status": product.status,
            "sku": product.sku,
            "price": f"{product.price:.2f}",
            "regular_price": f"{product.price:.2f}",
            "sale_price": "",
            "manage_stock": product.manage_stock,
            "stock_quantity": product.stock_quantity,
            "stock_status": product.stock_status,
            "backorders": product.backorders,
            "backorders_allowed": product.backorders != "no",
            "meta_data": list(product.meta_data),
        }
        if product.type == "variation":
            data.pop("type")
            data.pop("slug")
            data["permalink"] = f"/?p={product.parent_id}&variation={product.id}"
        else:
            data["parent_id"] = product.parent_id
            data["variations"] = list(product.variation_ids)
        if self.supports("global_unique_id"):
            data["global_unique_id"] = product.global_unique_id
        return data

    def render_webhook(self, hook: Webhook) -> JSON:
        resource, _, event = hook.topic.partition(".")
        return {
            "id": hook.id,
            "name": hook.name,
            "status": hook.status,
            "topic": hook.topic,
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{event}_{resource}"],
            "delivery_url": hook.delivery_url,
            "date_created": self.local(hook.created),
            "date_created_gmt": self.gmt(hook.created),
        }

    # ------------------------------------------------------------------ webhooks

    def emit(self, topic: str, order_or_product: Order | Product) -> None:
        """Queue a delivery for every active webhook subscribed to ``topic``."""
        for hook in self.webhooks.values():
            if hook.status != "active" or hook.topic != topic:
                continue
            if topic.endswith(".deleted"):
                payload: JSON = {"id": order_or_product.id}
            elif isinstance(order_or_product, Order):
                payload = self.render_order(order_or_product)
            else:
                payload = self.render_product(order_or_product)
            self.webhook_outbox.append(self._signed_delivery(hook, payload))

    def delete_order(self, order: Order) -> None:
        """Move an order to the trash in wp-admin (fires ``order.deleted``)."""
        with self.lock:
            order.status = "trash"
            order.modified = self.now()
            self.emit("order.deleted", order)

    def _signed_delivery(self, hook: Webhook, payload: JSON) -> WebhookDelivery:
        body = wp_json(payload)
        resource, _, event = hook.topic.partition(".")
        signature = base64.b64encode(hmac.new(hook.secret.encode(), body, hashlib.sha256).digest()).decode()
        # wp_hash( $webhook_id . strtotime( 'now' ) ): second resolution, new for every attempt
        delivery_id = hmac.new(b"wp-salt", f"{hook.id}{int(self.clock.now())}".encode(), hashlib.md5).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"WooCommerce/{self.wc_version} Hookshot (WordPress/6.6)",
            "X-WC-Webhook-Source": "https://shop.example/",
            "X-WC-Webhook-Topic": hook.topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature,
            "X-WC-Webhook-ID": str(hook.id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        return WebhookDelivery(hook.id, hook.delivery_url, headers, body, hook.topic)

    def _ping(self, hook: Webhook) -> WebhookDelivery:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": f"WooCommerce/{self.wc_version} Hookshot (WordPress/6.6)",
        }
        return WebhookDelivery(hook.id, hook.delivery_url, headers, f"webhook_id={hook.id}".encode(), "")

    def deliver_webhooks(self, send: Callable[[WebhookDelivery], int]) -> list[WebhookDelivery]:
        """Run the queued deliveries through ``send`` (returns the receiver's status code).

        200-302 counts as delivered; after more than five consecutive failures the webhook is
        disabled, as ``WC_Webhook::failed_delivery`` does.
        """
        with self.lock:
            pending, self.webhook_outbox = self.webhook_outbox, []
        for delivery in pending:
            delivery.status_code = send(delivery)
            with self.lock:
                self.webhook_log.append(delivery)
                hook = self.webhooks.get(delivery.webhook_id)
                if hook is None or not delivery.topic:
                    continue
                if 200 <= delivery.status_code <= 302:
                    hook.failures = 0
                else:
                    hook.failures += 1
                    if hook.failures > MAX_WEBHOOK_FAILURES:
                        hook.status = "disabled"
        return pending


def _ean(i: int, suffix: str) -> str:
    body = f"87{i:08d}{(ord(suffix[0]) % 100) if suffix else 0:02d}"[:12]
    total = sum(int(d) * (3 if n % 2 else 1) for n, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


_FIRST = ("Anna", "Bram", "Chantal", "Daan", "Eva", "Finn", "Julia", "Lucas", "Sanne", "Thijs")
_LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder")
_STREETS = ("Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg", "Schoolstraat", "Havenkade")
_CITIES = (("Amsterdam", "1012 AB"), ("Utrecht", "3511 CD"), ("Rotterdam", "3011 EF"), ("Zwolle", "8011 GH"))


# --------------------------------------------------------------------------------------------
# HTTP plumbing


@dataclass
class Request:
    method: str
    scheme: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client: str
    params: dict[str, Any] = field(default_factory=dict)
    match: dict[str, str] = field(default_factory=dict)
    key: ApiKey | None = None

    def json(self) -> Any:
        if not self.body:
            return {}
        if "application/json" not in self.headers.get("content-type", "application/json"):
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        try:
            return json.loads(self.body)
        except ValueError:
            raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.") from None


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Arg:
    """A WP REST argument schema (the subset the store validates)."""

    type: str = "string"  # string | integer | boolean | array | date-time | object
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False


Handler = Callable[[Request], Response]


@dataclass
class Route:
    namespace: str
    pattern: str
    methods: dict[str, tuple[Handler, dict[str, Arg]]]
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + self.pattern + "$")


def _wp_list(items: Iterable[str]) -> str:
    values = list(items)
    if len(values) <= 1:
        return "".join(values)
    if len(values) == 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + ", and " + values[-1]


def _parse_date(value: str) -> datetime:
    """WP date-time argument: the wall time is used as given, any offset ignored (WP_Date_Query)."""
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?", value)
    if not match:
        raise ValueError(value)
    parts = [int(p) if p else 0 for p in match.groups()]
    return datetime(*parts)  # type: ignore[arg-type]


def _validate(args: Mapping[str, Arg], params: dict[str, Any]) -> None:
    missing = [name for name, spec in args.items() if spec.required and name not in params]
    if missing:
        raise WPError(400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing)
    invalid: dict[str, str] = {}
    for name, spec in args.items():
        if name not in params:
            continue
        value = params[name]
        if spec.type == "integer":
            try:
                value = int(value)
                if isinstance(params[name], bool) or str(params[name]).strip() != str(value):
                    raise ValueError
            except (TypeError, ValueError):
                invalid[name] = f"{name} is not of type integer."
                continue
            low, high = spec.minimum, spec.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                if low is not None and high is not None:
                    invalid[name] = f"{name} must be between {low} (inclusive) and {high} (inclusive)"
                elif low is not None:
                    invalid[name] = f"{name} must be greater than or equal to {low}"
                else:
                    invalid[name] = f"{name} must be less than or equal to {high}"
                continue
            params[name] = value
        elif spec.type == "boolean":
            text = str(value).lower()
            if text not in ("true", "false", "1", "0"):
                invalid[name] = f"{name} is not of type boolean."
                continue
            params[name] = text in ("true", "1")
        elif spec.type == "date-time":
            try:
                params[name] = _parse_date(str(value))
            except ValueError:
                invalid[name] = "Invalid date."
                continue
        elif spec.type == "array":
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            bad = [v for v in items if spec.enum and str(v) not in spec.enum]
            if bad:
                invalid[name] = f"{name}[{items.index(bad[0])}] is not one of {_wp_list(spec.enum)}."
                continue
            params[name] = [str(v) for v in items]
        elif spec.enum and str(value) not in spec.enum:
            invalid[name] = f"{name} is not one of {_wp_list(spec.enum)}."
    if invalid:
        raise WPError(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(invalid)}", params=invalid)


COLLECTION = {
    "context": Arg(enum=("view", "edit")),
    "page": Arg("integer", minimum=1),
    "per_page": Arg("integer", minimum=1, maximum=100),
    "offset": Arg("integer"),
    "order": Arg(enum=("asc", "desc")),
    "include": Arg("array"),
    "exclude": Arg("array"),
    "after": Arg("date-time"),
    "before": Arg("date-time"),
}


# --------------------------------------------------------------------------------------------
# The app


class WooSimulator:
    """The ASGI application; ``sim`` (also ``state.sim``) is the store behind it."""

    def __init__(self, sim: WooState) -> None:
        self.sim = sim
        #: Starlette-style namespace, so every simulator exposes its store as ``app.state.sim``
        self.state = _AppState(sim)
        self.routes = self._routes()

    # ASGI entry point ------------------------------------------------------------------

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        client = scope.get("client") or ("sim-client", 0)
        request = Request(
            method=scope["method"].upper(),
            scheme=scope.get("scheme", "http"),
            host=headers.get("host", "shop.example"),
            path=scope["path"],
            query=query,
            headers=headers,
            body=body,
            client=str(client[0]),
        )
        await maybe_delay(self.sim.faults, request.path)
        response = self.handle(request)
        payload = response.raw if response.raw is not None else json.dumps(response.body).encode()
        out_headers = [(b"content-type", response.content_type.encode())]
        out_headers += [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()]
        out_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})

    # Dispatch ------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        state = self.sim
        with state.lock:
            allowed, retry_after, _ = state.limiter.hit("host", request.client)
            if not allowed:
                return _rate_limited(max(1, math.ceil(retry_after)))
            scripted = state.scripted_faults.take(request.method, request.path)
            if scripted is not None and scripted.kind == "rate_limit":
                return _rate_limited(scripted.retry_after)
            if scripted is not None and scripted.kind == "error":
                return self._error(
                    WPError(
                        scripted.status,
                        "internal_server_error",
                        "<p>There has been a critical error on this website.</p>",
                    )
                )
            if scripted is not None and scripted.kind == "timeout":
                raise DroppedAnswer()
            faults = state.faults
            if faults.applies(request.path):
                if faults.roll(faults.error_rate):
                    return self._error(
                        WPError(500, "internal_server_error", "<p>There has been a critical error on this website.</p>")
                    )
                if faults.roll(faults.timeout_rate):
                    raise DroppedAnswer()
            try:
                if request.path.startswith("/wc-auth/v1/"):
                    response = self._wc_auth(request)
                elif request.path.rstrip("/") == "/wp-json" or request.path.startswith("/wp-json/"):
                    response = self._rest(request)
                else:
                    response = Response(404, None, raw=b"<h1>Not Found</h1>", content_type="text/html")
            except WPError as err:
                response = self._error(err)
            if scripted is not None and scripted.kind == "timeout_after_apply":
                raise DroppedAnswer("simulated timeout after the request was applied")
            if faults.applies(request.path) and faults.roll(faults.timeout_after_apply_rate):
                raise DroppedAnswer("simulated timeout after the request was applied")
            return response

    @staticmethod
    def _error(err: WPError) -> Response:
        return Response(err.status, err.body(), dict(getattr(err, "headers", {})))

    def _rest(self, request: Request) -> Response:
        route_path = request.path[len("/wp-json") :] or "/"
        if route_path.rstrip("/") in ("", "/wc/v3"):
            return self._index(route_path.rstrip("/"))
        for route in self.routes:
            match = route.regex.match(route_path)
            if match is None:
                continue
            if request.method == "OPTIONS":
                return Response(200, self._describe(route), {"Allow": ", ".join(route.methods)})
            if request.method not in route.methods:
                break
            handler, args = route.methods[request.method]
            request.match = match.groupdict()
            self._authenticate(request)
            params: dict[str, Any] = dict(request.query)
            if request.method in ("POST", "PUT", "PATCH"):
                body = request.json()
                if isinstance(body, dict):
                    params.update(body)
            params.update(request.match)
            _validate(args, params)
            request.params = params
            return handler(request)
        raise WPError(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _index(self, prefix: str) -> Response:
        routes: JSON = {}
        for route in self.routes:
            if prefix and route.namespace != "wc/v3":
                continue
            routes[route.pattern] = self._describe(route)
        namespaces = sorted({r.namespace for r in self.routes})
        if prefix:
            return Response(200, {"namespace": "wc/v3", "routes": routes})
        return Response(
            200, {"name": "Shop", "url": "https://shop.example", "namespaces": namespaces, "routes": routes}
        )

    @staticmethod
    def _describe(route: Route) -> JSON:
        def arg(spec: Arg) -> JSON:
            out: JSON = {"required": spec.required, "type": "string" if spec.type == "date-time" else spec.type}
            if spec.type == "date-time":
                out["format"] = "date-time"
            if spec.enum:
                out["enum"] = list(spec.enum)
            if spec.minimum is not None:
                out["minimum"] = spec.minimum
            if spec.maximum is not None:
                out["maximum"] = spec.maximum
            return out

        return {
            "namespace": route.namespace,
            "methods": list(route.methods),
            "endpoints": [
                {"methods": [m], "args": {name: arg(spec) for name, spec in args.items()}}
                for m, (_, args) in route.methods.items()
            ],
        }

    # Authentication (WC_REST_Authentication) -------------------------------------------

    def _authenticate(self, request: Request) -> None:
        state = self.sim
        is_ssl = state.https and request.scheme == "https"
        error: WPError | None = None
        key: ApiKey | None = None
        auth_header = "" if state.strips_authorization else request.headers.get("authorization", "")
        kind = "none"
        if is_ssl:
            ck, cs = request.query.get("consumer_key", ""), request.query.get("consumer_secret", "")
            if not (ck and cs) and auth_header.startswith("Basic "):
                try:
                    ck, _, cs = base64.b64decode(auth_header[6:]).decode().partition(":")
                except ValueError:
                    ck = cs = ""
            if ck and cs:
                kind = "basic"
                candidate = state.keys.get(ck)
                if candidate is not None:
                    if hmac.compare_digest(candidate.consumer_secret, cs):
                        key = candidate
                    else:
                        error = WPError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        if key is None:
            oauth_key, oauth_error = self._oauth(request, is_ssl, auth_header)
            if oauth_key is not None or oauth_error is not None:
                kind = "oauth1"
                key, error = oauth_key, oauth_error or error
        state.requests.append((request.method, request.path, dict(request.query), kind))
        if error is not None:
            headers = {}
            if kind == "basic":
                headers["WWW-Authenticate"] = (
                    'Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer '
                    'secret in the password field."'
                )
            raise _AuthError(error, headers)
        if key is not None:
            method = request.method
            if method in ("GET", "HEAD") and key.permissions not in ("read", "read_write"):
                raise WPError(
                    401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
                )
            if method in ("POST", "PUT", "PATCH", "DELETE") and key.permissions not in ("write", "read_write"):
                raise WPError(
                    401,
                    "woocommerce_rest_authentication_error",
                    "The API key provided does not have write permissions.",
                )
        request.key = key

    def _oauth(self, request: Request, is_ssl: bool, auth_header: str) -> tuple[ApiKey | None, WPError | None]:
        params = dict(request.query)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        if auth_header.startswith("OAuth "):
            for name, quoted, bare in re.findall(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))', auth_header):
                params[name] = httpx.QueryParams(f"v={quoted or bare}")["v"]
        required = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        missing = [name for name in required if not params.get(name)]
        if len(missing) == len(required):
            return None, None
        if missing:
            word = "parameter" if len(missing) == 1 else "parameters"
            return None, WPError(
                401, "woocommerce_rest_authentication_missing_parameter", f"Missing OAuth {word} {', '.join(missing)}"
            )
        key = self.sim.keys.get(params["oauth_consumer_key"])
        if key is None:
            return None, WPError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."
            )
        url = f"{'https' if is_ssl else 'http'}://{request.host}{request.path}"
        given = params["oauth_signature"].replace(" ", "+")
        expected = oauth_signature(request.method, url, params, key.consumer_secret, method)
        if not hmac.compare_digest(expected, given):
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."
            )
        now = self.sim.clock.now()
        try:
            timestamp = float(params["oauth_timestamp"])
        except ValueError:
            timestamp = -math.inf
        if not now - OAUTH_WINDOW <= timestamp <= now + OAUTH_WINDOW:
            return None, WPError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        nonce = params["oauth_nonce"]
        key.nonces = {n: t for n, t in key.nonces.items() if t >= now - OAUTH_WINDOW}
        if nonce in key.nonces:
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
            )
        key.nonces[nonce] = timestamp
        return key, None

    @staticmethod
    def _require(request: Request, action: str) -> None:
        """The route's permission callback: without an authenticated key nothing is allowed."""
        if request.key is not None:
            return
        messages = {
            "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
            "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
            "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
            "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
            "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
            "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
        }
        code, message = messages[action]
        raise WPError(401, code, message)

    # Routes --------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        wc = "/wc/v3"
        order_list = {
            **COLLECTION,
            "orderby": Arg(enum=("date", "id", "include", "title", "slug", "modified")),
            "status": Arg("array", enum=("any", *ORDER_STATUSES, "trash", "checkout-draft")),
            "modified_after": Arg("date-time"),
            "modified_before": Arg("date-time"),
            "dates_are_gmt": Arg("boolean"),
            "customer": Arg("integer"),
            "product": Arg("integer"),
            "dp": Arg("integer"),
        }
        product_list = {
            **COLLECTION,
            "orderby": Arg(
                enum=("date", "id", "include", "title", "slug", "price", "popularity", "rating", "modified")
            ),
            "status": Arg(enum=("any", "draft", "pending", "private", "publish")),
            "type": Arg(enum=("simple", "grouped", "external", "variable")),
            "sku": Arg(),
            "modified_after": Arg("date-time"),
            "modified_before": Arg("date-time"),
            "dates_are_gmt": Arg("boolean"),
        }
        stock_fields = {"stock_quantity": Arg("integer"), "manage_stock": Arg(), "sku": Arg()}
        tracking = "/wc-shipment-tracking/v3/orders/(?P<order_id>[\\d]+)/shipment-trackings"
        return [
            Route("wc/v3", wc + "/orders", {"GET": (self.list_orders, order_list)}),
            Route(
                "wc/v3",
                wc + "/orders/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_order, {"id": Arg("integer")}),
                    "PUT": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                    "POST": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                    "PATCH": (self.update_order, {"id": Arg("integer"), "status": Arg(enum=ORDER_STATUSES)}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/orders/(?P<order_id>[\\d]+)/notes",
                {
                    "GET": (
                        self.list_notes,
                        {"order_id": Arg("integer"), "type": Arg(enum=("any", "customer", "internal"))},
                    ),
                    "POST": (
                        self.create_note,
                        {
                            "order_id": Arg("integer"),
                            "note": Arg(required=True),
                            "customer_note": Arg("boolean"),
                            "added_by_user": Arg("boolean"),
                        },
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/orders/(?P<order_id>[\\d]+)/refunds",
                {
                    "GET": (self.list_refunds, {"order_id": Arg("integer"), **COLLECTION}),
                },
            ),
            Route("wc/v3", wc + "/products", {"GET": (self.list_products, product_list)}),
            Route("wc/v3", wc + "/products/batch", {m: (self.batch_products, {}) for m in ("POST", "PUT", "PATCH")}),
            Route(
                "wc/v3",
                wc + "/products/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_product, {"id": Arg("integer")}),
                    "PUT": (self.update_product, {"id": Arg("integer"), **stock_fields}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations",
                {
                    "GET": (self.list_variations, {"product_id": Arg("integer"), **product_list}),
                },
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations/batch",
                {m: (self.batch_variations, {"product_id": Arg("integer")}) for m in ("POST", "PUT", "PATCH")},
            ),
            Route(
                "wc/v3",
                wc + "/products/(?P<product_id>[\\d]+)/variations/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_variation, {"product_id": Arg("integer"), "id": Arg("integer")}),
                    "PUT": (
                        self.update_variation,
                        {"product_id": Arg("integer"), "id": Arg("integer"), **stock_fields},
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/webhooks",
                {
                    "GET": (self.list_webhooks, COLLECTION),
                    "POST": (
                        self.create_webhook,
                        {
                            "name": Arg(),
                            "topic": Arg(required=True),
                            "secret": Arg(required=True),
                            "delivery_url": Arg(required=True),
                            "status": Arg(enum=("active", "paused", "disabled")),
                        },
                    ),
                },
            ),
            Route(
                "wc/v3",
                wc + "/webhooks/(?P<id>[\\d]+)",
                {
                    "GET": (self.get_webhook, {"id": Arg("integer")}),
                    "PUT": (
                        self.update_webhook,
                        {"id": Arg("integer"), "status": Arg(enum=("active", "paused", "disabled"))},
                    ),
                    "DELETE": (self.delete_webhook, {"id": Arg("integer"), "force": Arg("boolean")}),
                },
            ),
            Route("wc/v3", wc + "/system_status", {"GET": (self.system_status, {})}),
            *(
                [
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking,
                        {
                            "GET": (self.list_trackings, {"order_id": Arg("integer")}),
                            "POST": (
                                self.create_tracking,
                                {
                                    "order_id": Arg("integer"),
                                    "tracking_number": Arg(required=True),
                                    "tracking_provider": Arg(),
                                    "custom_tracking_provider": Arg(),
                                    "custom_tracking_link": Arg(),
                                    "date_shipped": Arg(),
                                },
                            ),
                        },
                    ),
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking + "/providers",
                        {
                            "GET": (self.list_providers, {"order_id": Arg("integer")}),
                        },
                    ),
                    Route(
                        "wc-shipment-tracking/v3",
                        tracking + "/(?P<tracking_id>[\\w]+)",
                        {
                            "GET": (self.get_tracking, {"order_id": Arg("integer")}),
                            "DELETE": (self.delete_tracking, {"order_id": Arg("integer")}),
                        },
                    ),
                ]
                if self.sim.shipment_tracking
                else []
            ),
        ]

    # Paging ---------------------------------------------------------------------------

    def _page(self, request: Request, items: list[Any], render: Callable[[Any], JSON]) -> Response:
        per_page = int(request.params.get("per_page", 10))
        page = int(request.params.get("page", 1))
        offset = int(request.params.get("offset", (page - 1) * per_page))
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        chunk = items[offset : offset + per_page]
        base = f"{request.scheme}://{request.host}{request.path}"
        links = []
        query = {k: v for k, v in request.query.items() if not k.startswith(("oauth_", "consumer_"))}
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, [render(item) for item in chunk], headers)

    def _date_filter(
        self,
        request: Request,
        items: list[Any],
        created: Callable[[Any], datetime],
        modified: Callable[[Any], datetime],
    ) -> list[Any]:
        """``after``/``before`` on the created date, ``modified_*`` on the modified date.

        Without ``dates_are_gmt`` (or before WooCommerce 5.4) the filter values are compared with
        the store-local columns; before 5.8 ``modified_*`` do not exist and are ignored.
        """
        state = self.sim
        p = request.params
        gmt = bool(p.get("dates_are_gmt")) and state.supports("dates_are_gmt")

        def column(when: datetime) -> datetime:
            return (when.astimezone(UTC) if gmt else when.astimezone(state.tz)).replace(tzinfo=None)

        checks: list[tuple[str, Callable[[Any], datetime]]] = [("after", created), ("before", created)]
        if state.supports("modified_after"):
            checks += [("modified_after", modified), ("modified_before", modified)]
        for name, getter in checks:
            if name in p:
                bound: datetime = p[name]
                if name.endswith("after"):
                    items = [i for i in items if column(getter(i)) > bound]
                else:
                    items = [i for i in items if column(getter(i)) < bound]
        return items

    @staticmethod
    def _sort(request: Request, items: list[Any], keys: Mapping[str, Callable[[Any], Any]]) -> list[Any]:
        orderby = request.params.get("orderby", "date")
        key = keys.get(orderby, keys["date"])
        return sorted(items, key=key, reverse=request.params.get("order", "desc") == "desc")

    # Orders ---------------------------------------------------------------------------

    def _order(self, value: str | int, code: str = "woocommerce_rest_shop_order_invalid_id") -> Order:
        order = self.sim.orders.get(int(value))
        if order is None or order.status == "trash":
            message = "Invalid order ID." if code == "woocommerce_rest_order_invalid_id" else "Invalid ID."
            raise WPError(404, code, message)
        return order

    def list_orders(self, request: Request) -> Response:
        self._require(request, "list")
        p = request.params
        statuses = p.get("status", ["any"])
        orders = list(self.sim.orders.values())
        if "any" in statuses:
            orders = [o for o in orders if o.status not in ("trash", "checkout-draft")]
        else:
            orders = [o for o in orders if o.status in statuses]
        if p.get("include"):
            wanted = {int(i) for i in p["include"]}
            orders = [o for o in orders if o.id in wanted]
        if p.get("exclude"):
            unwanted = {int(i) for i in p["exclude"]}
            orders = [o for o in orders if o.id not in unwanted]
        orders = self._date_filter(request, orders, lambda o: o.created, lambda o: o.modified)
        orders = self._sort(
            request, orders, {"date": lambda o: o.created, "id": lambda o: o.id, "modified": lambda o: o.modified}
        )
        return self._page(request, orders, self.sim.render_order)

    def get_order(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_order(self._order(request.params["id"])))

    def update_order(self, request: Request) -> Response:
        self._require(request, "edit")
        order = self._order(request.params["id"])
        body = request.json()
        if "status" in body:
            self.sim._change_status(order, str(body["status"]))
        if isinstance(body.get("meta_data"), list):
            for entry in body["meta_data"]:
                existing = next((m for m in order.meta_data if m.get("key") == entry.get("key")), None)
                if existing is not None:
                    existing["value"] = entry.get("value")
                else:
                    order.meta_data.append(
                        {"id": self.sim.next_id("item"), "key": entry.get("key"), "value": entry.get("value")}
                    )
            order.modified = self.sim.now()
        self.sim.emit("order.updated", order)
        return Response(200, self.sim.render_order(order))

    def list_notes(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        kind = request.params.get("type", "any")
        notes = [n for n in order.notes if kind == "any" or (kind == "customer") == n.customer_note]
        notes.sort(key=lambda n: (n.created, n.id), reverse=True)
        return Response(200, [self.sim.render_note(n) for n in notes])

    def create_note(self, request: Request) -> Response:
        self._require(request, "create")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        text = str(request.params["note"]).strip()
        if not text:
            raise WPError(400, "woocommerce_rest_invalid_order_note", "Cannot create order note, please try again.")
        by_user = bool(request.params.get("added_by_user"))
        note = Note(
            self.sim.next_id("comment"),
            text,
            bool(request.params.get("customer_note")),
            self.sim.now(),
            "shop manager" if by_user else "WooCommerce",
        )
        order.notes.append(note)
        return Response(201, self.sim.render_note(note))

    def list_refunds(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        refunds = sorted(order.refunds, key=lambda r: r.created, reverse=True)
        return self._page(request, refunds, lambda r: self.sim.render_refund(order, r))

    # Products -------------------------------------------------------------------------

    def _product(self, value: str | int, *, parent: int | None = None) -> Product:
        product = self.sim.products.get(int(value))
        if parent is None:
            if product is None or product.type == "variation":
                raise WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        elif product is None or product.parent_id != parent:
            raise WPError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return product

    def _filter_products(self, request: Request, products: list[Product]) -> Response:
        p = request.params
        if p.get("sku"):
            skus = {s.strip() for s in str(p["sku"]).split(",")}
            products = [x for x in products if x.sku in skus]
        if p.get("type"):
            products = [x for x in products if x.type == p["type"]]
        if p.get("status") and p["status"] != "any":
            products = [x for x in products if x.status == p["status"]]
        if p.get("include"):
            wanted = {int(i) for i in p["include"]}
            products = [x for x in products if x.id in wanted]
        products = self._date_filter(request, products, lambda x: x.created, lambda x: x.modified)
        products = self._sort(
            request,
            products,
            {
                "date": lambda x: (x.created, x.id),
                "id": lambda x: x.id,
                "modified": lambda x: x.modified,
                "title": lambda x: x.name,
                "slug": lambda x: x.name,
                "price": lambda x: (x.price, x.id),
            },
        )
        return self._page(request, products, self.sim.render_product)

    def list_products(self, request: Request) -> Response:
        self._require(request, "list")
        products = [x for x in self.sim.products.values() if x.type != "variation"]
        return self._filter_products(request, products)

    def list_variations(self, request: Request) -> Response:
        self._require(request, "list")
        parent = self._product(request.params["product_id"])
        variations = [self.sim.products[i] for i in parent.variation_ids]
        return self._filter_products(request, variations)

    def get_product(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_product(self._product(request.params["id"])))

    def get_variation(self, request: Request) -> Response:
        self._require(request, "view")
        parent = int(request.params["product_id"])
        return Response(200, self.sim.render_product(self._product(request.params["id"], parent=parent)))

    def _apply_product(self, product: Product, item: Mapping[str, Any]) -> None:
        """``prepare_object_for_database`` + save: stock only sticks when stock is managed."""
        if "stock_quantity" in item and item["stock_quantity"] is not None:
            value = item["stock_quantity"]
            if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
                raise WPError(
                    400,
                    "rest_invalid_param",
                    "Invalid parameter(s): stock_quantity",
                    params={"stock_quantity": "stock_quantity is not of type integer."},
                )
        if "manage_stock" in item:
            flag = item["manage_stock"]
            product.manage_stock = "parent" if flag == "parent" else str(flag).lower() in ("true", "1")
        if "sku" in item:
            clash = next(
                (x for x in self.sim.products.values() if x.sku == item["sku"] and x.id != product.id and item["sku"]),
                None,
            )
            if clash is not None:
                raise WPError(
                    400,
                    "product_invalid_sku",
                    "Invalid or duplicated SKU.",
                    resource_id=clash.id,
                    unique_sku=item["sku"],
                )
            product.sku = str(item["sku"])
        if "stock_quantity" in item and item["stock_quantity"] is not None:
            product.stock_quantity = int(item["stock_quantity"])
        if product.manage_stock is not True:
            product.stock_quantity = None
        product.modified = self.sim.now()
        self.sim.emit("product.updated", product)

    def update_product(self, request: Request) -> Response:
        self._require(request, "edit")
        product = self._product(request.params["id"])
        self._apply_product(product, request.json())
        return Response(200, self.sim.render_product(product))

    def update_variation(self, request: Request) -> Response:
        self._require(request, "edit")
        product = self._product(request.params["id"], parent=int(request.params["product_id"]))
        self._apply_product(product, request.json())
        return Response(200, self.sim.render_product(product))

    def _batch(self, request: Request, find: Callable[[Any], Product]) -> Response:
        self._require(request, "batch")
        body = request.json()
        if not isinstance(body, dict):
            raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.")
        groups = {k: body.get(k) or [] for k in ("create", "update", "delete")}
        if sum(len(v) for v in groups.values()) > BATCH_LIMIT:
            raise WPError(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        out: JSON = {}
        if groups["update"]:
            results = []
            for item in groups["update"]:
                item_id = item.get("id", 0) if isinstance(item, dict) else 0
                try:
                    if not isinstance(item, dict):
                        raise WPError(400, "rest_invalid_param", "Invalid parameter(s): update")
                    product = find(item_id)
                    self._apply_product(product, item)
                    results.append(self.sim.render_product(product))
                except WPError as err:
                    results.append({"id": item_id, "error": err.body()})
            out["update"] = results
        if groups["create"]:
            out["create"] = [
                {
                    "id": 0,
                    "error": WPError(
                        400, "woocommerce_rest_cannot_create", "Creating products is not supported by this store."
                    ).body(),
                }
                for _ in groups["create"]
            ]
        if groups["delete"]:
            out["delete"] = [
                {
                    "id": d,
                    "error": WPError(
                        400, "woocommerce_rest_cannot_delete", "Deleting products is not supported by this store."
                    ).body(),
                }
                for d in groups["delete"]
            ]
        return Response(200, out)

    def batch_products(self, request: Request) -> Response:
        return self._batch(request, lambda item_id: self._product(item_id))

    def batch_variations(self, request: Request) -> Response:
        parent = self._product(request.params["product_id"])
        return self._batch(request, lambda item_id: self._product(item_id, parent=parent.id))

    # Webhooks -------------------------------------------------------------------------

    def _webhook(self, value: str | int) -> Webhook:
        hook = self.sim.webhooks.get(int(value))
        if hook is None:
            raise WPError(404, "woocommerce_rest_webhook_invalid_id", "Invalid ID.")
        return hook

    def list_webhooks(self, request: Request) -> Response:
        self._require(request, "list")
        hooks = sorted(self.sim.webhooks.values(), key=lambda h: h.id, reverse=True)
        return self._page(request, hooks, self.sim.render_webhook)

    def create_webhook(self, request: Request) -> Response:
        self._require(request, "create")
        p = request.params
        topic = str(p["topic"])
        resource, _, event = topic.partition(".")
        valid = (resource in WEBHOOK_RESOURCES and event in WEBHOOK_EVENTS) or (resource == "action" and event)
        if not valid:
            raise WPError(400, "woocommerce_rest_webhook_invalid_topic", "Webhook topic is required and must be valid.")
        url = str(p["delivery_url"])
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise WPError(
                400,
                "woocommerce_rest_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            )
        state = self.sim
        hook = Webhook(
            state.next_id("webhook"),
            str(p.get("name") or f"Webhook {topic}"),
            topic,
            url,
            str(p["secret"]),
            str(p.get("status") or "active"),
            state.now(),
        )
        state.webhooks[hook.id] = hook
        if hook.status == "active":
            state.webhook_outbox.append(state._ping(hook))
        return Response(201, state.render_webhook(hook))

    def get_webhook(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_webhook(self._webhook(request.params["id"])))

    def update_webhook(self, request: Request) -> Response:
        self._require(request, "edit")
        hook = self._webhook(request.params["id"])
        body = request.json()
        if "status" in body:
            hook.status = str(body["status"])
            if hook.status == "active":
                hook.failures = 0
        if "secret" in body:
            hook.secret = str(body["secret"])
        return Response(200, self.sim.render_webhook(hook))

    def delete_webhook(self, request: Request) -> Response:
        self._require(request, "delete")
        hook = self._webhook(request.params["id"])
        if not request.params.get("force"):
            raise WPError(501, "woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.")
        del self.sim.webhooks[hook.id]
        return Response(200, self.sim.render_webhook(hook))

    def system_status(self, request: Request) -> Response:
        self._require(request, "view")
        state = self.sim
        return Response(
            200,
            {
                "environment": {
                    "home_url": "https://shop.example",
                    "site_url": "https://shop.example",
                    "version": state.wc_version,
                    "wp_version": "6.6",
                },
                "settings": {"currency": state.currency, "api_enabled": True},
                "active_plugins": (
                    [
                        {
                            "plugin": "woocommerce-shipment-tracking/woocommerce-shipment-tracking.php",
                            "name": "WooCommerce Shipment Tracking",
                        }
                    ]
                    if state.shipment_tracking
                    else []
                ),
            },
        )

    # Shipment Tracking extension ------------------------------------------------------

    def _render_tracking(self, t: Tracking) -> JSON:
        template = TRACKING_PROVIDERS.get(t.tracking_provider, "")
        link = t.custom_tracking_link or template.replace("%1$s", t.tracking_number).replace("%2$s", "")
        return {
            "tracking_id": t.tracking_id,
            "tracking_provider": t.tracking_provider,
            "tracking_link": link,
            "tracking_number": t.tracking_number,
            "date_shipped": t.date_shipped,
            "custom_tracking_provider": t.custom_tracking_provider,
            "custom_tracking_link": t.custom_tracking_link,
        }

    def list_trackings(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        return Response(200, [self._render_tracking(t) for t in order.trackings])

    def create_tracking(self, request: Request) -> Response:
        self._require(request, "create")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        p = request.params
        number = str(p["tracking_number"]).strip()
        provider = str(p.get("tracking_provider") or "")
        custom = str(p.get("custom_tracking_provider") or "")
        if not number or not (provider or custom):
            raise WPError(
                400, "woocommerce_shipment_tracking_missing_provider", "Missing tracking provider or tracking number."
            )
        tracking = Tracking(
            tracking_id=hashlib.md5(f"{order.id}{number}{len(order.trackings)}".encode()).hexdigest(),
            tracking_provider=provider,
            tracking_number=number,
            date_shipped=str(p.get("date_shipped") or self.sim.now().date().isoformat()),
            custom_tracking_provider=custom,
            custom_tracking_link=str(p.get("custom_tracking_link") or ""),
        )
        order.trackings.append(tracking)
        return Response(201, self._render_tracking(tracking))

    def _find_tracking(self, request: Request) -> tuple[Order, Tracking]:
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        for t in order.trackings:
            if t.tracking_id == request.match["tracking_id"]:
                return order, t
        raise WPError(404, "woocommerce_rest_order_invalid_id", "Invalid tracking ID.")

    def get_tracking(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self._render_tracking(self._find_tracking(request)[1]))

    def delete_tracking(self, request: Request) -> Response:
        self._require(request, "delete")
        order, tracking = self._find_tracking(request)
        order.trackings.remove(tracking)
        return Response(200, {"message": "Successfully deleted the tracking item."})

    def list_providers(self, request: Request) -> Response:
        self._require(request, "list")
        return Response(
            200,
            {
                "Netherlands": {k: v for k, v in TRACKING_PROVIDERS.items() if k == "PostNL"},
                "Global": {k: v for k, v in TRACKING_PROVIDERS.items() if k != "PostNL"},
            },
        )

    # wc-auth (WC_Auth) -----------------------------------------------------------------

    def _wc_auth(self, request: Request) -> Response:
        state = self.sim
        endpoint = request.path[len("/wc-auth/v1/") :].strip("/")
        q = request.query

        def page(status: int, text: str) -> Response:
            return Response(status, None, raw=f"<html><body>{text}</body></html>".encode(), content_type="text/html")

        for name in ("app_name", "scope", "user_id", "return_url", "callback_url"):
            if not q.get(name):
                return page(400, f"Error: {name} parameter is missing.")
        if q["scope"] not in ("read", "write", "read_write"):
            return page(400, "Error: Invalid scope.")
        for name in ("return_url", "callback_url"):
            if urlsplit(q[name]).scheme not in ("http", "https"):
                return page(400, f"Error: The {name} is not a valid URL.")
        if urlsplit(q["callback_url"]).scheme != "https":
            return page(400, "Error: The callback_url needs to be over SSL.")
        if endpoint == "authorize":
            nonce = secrets.token_hex(5)
            state.auth_requests[nonce] = dict(q)
            grant = f"/wc-auth/v1/access_granted?{urlencode({**q, 'wc_auth_nonce': nonce})}"
            deny = f"/wc-auth/v1/access_denied?{urlencode(q)}"
            return page(
                200,
                f"<h1>{q['app_name']} would like to connect to your store</h1>"
                f'<a class="button-primary" href="{grant}">Approve</a> <a href="{deny}">Deny</a>',
            )
        if endpoint == "access_denied":
            return Response(
                302, None, {"Location": _with_query(q["return_url"], success="0", user_id=q["user_id"])}, raw=b""
            )
        if endpoint == "access_granted":
            nonce = q.get("wc_auth_nonce", "")
            if state.auth_requests.pop(nonce, None) is None:
                return page(403, "Error: Invalid nonce.")
            key = state.create_api_key(q["scope"], description=f"{q['app_name']} - API ({state.now():%Y-%m-%d})")
            body = json.dumps(
                {
                    "key_id": key.key_id,
                    "user_id": q["user_id"],
                    "consumer_key": key.consumer_key,
                    "consumer_secret": key.consumer_secret,
                    "key_permissions": key.permissions,
                }
            ).encode()
            callback = AuthCallback(q["callback_url"], body)
            callback.status_code = state.auth_callback_sender(callback.url, body) if state.auth_callback_sender else 200
            state.auth_callbacks.append(callback)
            if not 200 <= callback.status_code < 300:
                state.revoke_api_key(key.consumer_key)
                return page(
                    400,
                    "Error: An error occurred in the request and at the time were unable to send the consumer data.",
                )
            return Response(
                302, None, {"Location": _with_query(q["return_url"], success="1", user_id=q["user_id"])}, raw=b""
            )
        return page(404, "Error: Invalid endpoint.")


def _rate_limited(wait: float) -> Response:
    """A host limiter's 429; ``Retry-After`` in whole seconds, or the fraction a test asked for."""
    text = str(int(wait)) if float(wait).is_integer() else f"{wait:g}"
    return Response(
        429,
        {
            "code": "rate_limit_exceeded",
            "message": f"Too many requests. Please wait {text} seconds before trying again.",
            "data": {"status": 429},
        },
        {"Retry-After": text},
    )


class _AuthError(WPError):
    def __init__(self, error: WPError, headers: dict[str, str]) -> None:
        super().__init__(error.status, error.code, error.message, **error.data)
        self.headers = headers


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def create_app(
    state: WooState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    https: bool = True,
    **settings: Any,
) -> WooSimulator:
    """Build a simulated store; its state is at ``app.state.sim``.

    ``settings`` are passed to ``WooState`` (``wc_version``, ``timezone``, ``shipment_tracking``,
    ``rate_limit``, ``strips_authorization``, ``currency``) when no state is given; with a state,
    only ``faults`` is applied to it.
    """
    if state is None:
        state = WooState(seed=seed, clock=clock, faults=faults, https=https, **settings)
    elif faults is not None:
        state.faults = faults
    return WooSimulator(state)


class _AppState:
    """Starlette-style ``app.state`` namespace so every simulator exposes ``app.state.sim``."""

    def __init__(self, sim: WooState) -> None:
        self.sim = sim
