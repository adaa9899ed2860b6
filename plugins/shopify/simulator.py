"""A stateful Shopify Admin API simulator (ASGI), strict where the real one is strict.

It executes real GraphQL against the official 2025-01 Admin schema (built from Shopify's
introspection), so a document with an unknown field, a wrong argument or a bad variable fails
here as it fails on Shopify: HTTP 200 with a top-level ``errors`` array. On top of that it
enforces what the plugin must cope with:

* auth: the static admin token header, and the client-credentials grant issuing tokens that
  expire after 24 hours of simulated time;
* the calculated query cost and a leaky bucket per app (THROTTLED as HTTP 200, single-query
  maximum of 1,000 points), reported in ``extensions.cost`` on every response;
* cursor paging capped at 250, the orders search syntax (``updated_at:>'…'``, ``status:``),
  the 60-day order window, fulfillment orders with remaining quantities,
  ``inventorySetQuantities`` compare-and-set, an asynchronous ``orderCancel`` job;
* signed webhook deliveries whose bodies are REST order resources;
* injected faults (``kade.sim.base.Faults``), including a timeout after the work was done.

Tests and the demo seed and inspect the state through ``app.state.sim`` (a ``SimState``).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import json
import os
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    build_client_schema,
    execute_sync,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kade.plugins.shopify.queries import API_VERSION, GRAPHQL_PATH, TOKEN_PATH
from kade.sim.base import Faults, SimClock, maybe_delay

DEFAULT_SHOP = "shop.myshopify.com"
DEFAULT_ADMIN_TOKEN = "shpat_simulated_admin_token"
DEFAULT_CLIENT_ID = "kade-sim-client-id"
DEFAULT_CLIENT_SECRET = "kade-sim-client-secret"
#: client-credentials tokens "expire every 24 hours" (platform notes §2.1)
TOKEN_LIFETIME = 86_399
#: the bucket figures of Shopify's own THROTTLED example (§2.6); both are configurable
BUCKET_SIZE = 1000.0
RESTORE_RATE = 50.0
MAX_QUERY_COST = 1000
MAX_PAGE = 250
MAX_INPUT = 250
ORDER_WINDOW_DAYS = 60
CANCEL_JOB_SECONDS = 1.0
SCOPES = "read_orders,write_orders,read_products,read_inventory,write_inventory,read_locations,write_fulfillments"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
SET_REASONS = frozenset(
    {
        "correction",
        "cycle_count_available",
        "damaged",
        "other",
        "promotion",
        "received",
        "restock",
        "shrinkage",
        "movement_created",
        "movement_updated",
        "movement_received",
        "movement_canceled",
        "quality_control",
        "reservation_created",
        "reservation_deleted",
        "reservation_updated",
        "safety_stock",
    }
)
QUANTITY_NAMES = (
    "available",
    "committed",
    "damaged",
    "incoming",
    "on_hand",
    "quality_control",
    "reserved",
    "safety_stock",
)
SCHEMA_FILE = Path(__file__).with_name(f"admin-schema-{API_VERSION}.introspection.json.gz")


@functools.cache
def load_schema() -> GraphQLSchema:
    """The official Admin schema of ``API_VERSION``, built once per process.

    ``assume_valid``: Shopify's published schema breaks two of graphql-core's newer
    deprecation-consistency rules, which says nothing about the queries run against it.
    """
    path = Path(os.environ.get("KADE_SHOPIFY_SCHEMA", SCHEMA_FILE))
    with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as fh:
        raw = json.load(fh)
    return build_client_schema(raw.get("data", raw), assume_valid=True)


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


_GID = re.compile(r"^gid://shopify/(?P<kind>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


def parse_gid(value: Any, kind: str) -> int | None:
    match = _GID.match(str(value))
    if match is None or match.group("kind") != kind:
        return None
    return int(match.group("id"))


def _require_gid(value: Any, kind: str) -> int | None:
    if not _GID.match(str(value)):
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "argumentLiteralsIncompatible"})
    return parse_gid(value, kind)


def iso(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_time(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


# ============================================================================== state


@dataclass
class Location:
    id: int
    name: str
    active: bool = True
    fulfills_online_orders: bool = True


@dataclass
class Variant:
    id: int
    product_id: int
    inventory_item_id: int
    sku: str | None
    barcode: str | None
    title: str
    product_title: str
    price: Decimal
    tracked: bool = True
    created_at: int = 0


@dataclass
class Level:
    available: int = 0
    committed: int = 0
    updated_at: int = 0


@dataclass
class LineItem:
    id: int
    variant_id: int | None
    sku: str | None
    title: str
    quantity: int
    price: Decimal
    current_quantity: int
    fulfilled: int = 0

    @property
    def unfulfilled(self) -> int:
        return max(0, self.current_quantity - self.fulfilled)


@dataclass
class FOLine:
    id: int
    line_item_id: int
    total: int
    remaining: int


@dataclass
class FulfillmentOrder:
    id: int
    order_id: int
    location_id: int
    status: str = "OPEN"
    lines: list[FOLine] = field(default_factory=list)
    created_at: int = 0
    updated_at: int = 0


@dataclass
class FulfillmentLine:
    id: int
    line_item_id: int
    quantity: int


@dataclass
class Fulfillment:
    id: int
    order_id: int
    location_id: int
    name: str
    status: str
    created_at: int
    tracking: list[dict[str, str | None]]
    lines: list[FulfillmentLine]
    notify_customer: bool = False


@dataclass
class Order:
    id: int
    number: int
    name: str
    created_at: int
    updated_at: int
    currency: str
    lines: list[LineItem]
    email: str | None = None
    phone: str | None = None
    billing: dict[str, Any] | None = None
    shipping: dict[str, Any] | None = None
    financial_status: str = "PAID"
    cancelled_at: int | None = None
    cancel_reason: str | None = None
    closed_at: int | None = None
    test: bool = False
    fulfillment_orders: list[FulfillmentOrder] = field(default_factory=list)
    fulfillments: list[Fulfillment] = field(default_factory=list)
    #: tests set this to serve a malformed amount (the Money scalar is a plain string)
    total_override: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.price * line.quantity for line in self.lines), Decimal("0"))


@dataclass
class Job:
    id: str
    ready_at: float
    action: Callable[[], None]
    done: bool = False


@dataclass(frozen=True)
class WebhookDelivery:
    """One webhook POST as Shopify would send it; ``body`` is the exact signed bytes."""

    topic: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Bucket:
    available: float
    at: float


_CITIES = (
    ("Amsterdam", "1011 AB"),
    ("Rotterdam", "3011 AA"),
    ("Utrecht", "3511 AB"),
    ("Groningen", "9711 AA"),
    ("Eindhoven", "5611 AA"),
    ("Zwolle", "8011 AA"),
)
_STREETS = ("Kade", "Havenstraat", "Dorpsstraat", "Stationsweg", "Kerkstraat", "Molenweg")
_NAMES = (
    ("Anna", "de Vries"),
    ("Bram", "Jansen"),
    ("Chloe", "Bakker"),
    ("Daan", "Visser"),
    ("Eva", "Smit"),
    ("Finn", "Meijer"),
)


class SimState:
    """Everything the simulated shop knows. Thread-safe: the app and the tests share it."""

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: SimClock | None = None,
        shop_domain: str = DEFAULT_SHOP,
        shop_name: str = "Kade Sim Shop",
        currency: str = "EUR",
        bucket_size: float = BUCKET_SIZE,
        restore_rate: float = RESTORE_RATE,
        max_query_cost: int = MAX_QUERY_COST,
        token_lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.shop_domain = shop_domain
        self.shop_name = shop_name
        self.currency = currency
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.max_query_cost = max_query_cost
        self.token_lifetime = token_lifetime
        self.read_all_orders = False
        self._ids: dict[str, int] = {}
        # auth: admin tokens never expire; app tokens expire (token -> (app, expires_at))
        self.admin_tokens: dict[str, str] = {DEFAULT_ADMIN_TOKEN: "legacy-custom-app"}
        self.apps: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.app_tokens: dict[str, tuple[str, float]] = {}
        self.webhook_secret = DEFAULT_CLIENT_SECRET
        self.locations: dict[int, Location] = {}
        self.variants: dict[int, Variant] = {}
        self._by_item: dict[int, Variant] = {}
        self.levels: dict[tuple[int, int], Level] = {}
        self.orders: dict[int, Order] = {}
        self.jobs: dict[str, Job] = {}
        self.buckets: dict[str, Bucket] = {}
        self.webhooks: list[WebhookDelivery] = []
        #: every distinct GraphQL document received, with how often (tests validate them all)
        self.documents: dict[str, int] = {}
        self.adjustment_groups: list[dict[str, Any]] = []
        self.throttled = 0
        self.graphql_requests = 0
        self._operation_faults: list[tuple[str, str]] = []
        self._validated: dict[str, tuple[DocumentNode | None, list[Any]]] = {}
        #: how far a ``"throttle"`` fault leaves the bucket short, in seconds of restore
        self.throttle_pause = 0.05
        self.add_location("Warehouse")

    # ------------------------------------------------------------------ basics

    def now(self) -> int:
        return int(self.clock.now())

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._ids.get(kind, 1000) + 1
            self._ids[kind] = value
            return value

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def primary_location(self) -> Location:
        return next(iter(self.locations.values()))

    def add_location(self, name: str, *, active: bool = True) -> Location:
        with self.lock:
            loc = Location(self.next_id("Location"), name, active)
            self.locations[loc.id] = loc
            return loc

    def add_product(
        self,
        sku: str | None,
        *,
        barcode: str | None = None,
        title: str | None = None,
        price: str | Decimal = "10.00",
        stock: int = 0,
        tracked: bool = True,
        locations: Iterable[Location] | None = None,
    ) -> Variant:
        """Add a one-variant product stocked (``stock`` available) at ``locations`` (default: primary)."""
        with self.lock:
            product_id = self.next_id("Product")
            variant = Variant(
                id=self.next_id("ProductVariant"),
                product_id=product_id,
                inventory_item_id=self.next_id("InventoryItem"),
                sku=sku,
                barcode=barcode,
                title="Default Title",
                product_title=title or f"Product {sku or product_id}",
                price=Decimal(str(price)),
                tracked=tracked,
                created_at=self.now(),
            )
            self.variants[variant.id] = variant
            self._by_item[variant.inventory_item_id] = variant
            for loc in locations if locations is not None else [self.primary_location]:
                self.levels[(variant.inventory_item_id, loc.id)] = Level(available=stock, updated_at=self.now())
            return variant

    def seed_catalog(self, count: int) -> list[Variant]:
        """Products with EAN-13 barcodes and random stock, reproducible from the seed."""
        made = []
        for n in range(count):
            ean = f"87{self.rng.randrange(10**10):010d}"
            ean += str((10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(ean)) % 10) % 10)
            made.append(
                self.add_product(
                    f"SKU-{n + 1:05d}",
                    barcode=ean,
                    title=f"Article {n + 1}",
                    price=Decimal(self.rng.randrange(199, 9999)) / 100,
                    stock=self.rng.randrange(0, 50),
                )
            )
        return made

    def variant_by_item(self, item_id: int) -> Variant | None:
        return self._by_item.get(item_id)

    def level(self, variant: Variant, location: Location | None = None) -> Level | None:
        loc = location or self.primary_location
        return self.levels.get((variant.inventory_item_id, loc.id))

    # ------------------------------------------------------------------ orders

    def add_order(
        self,
        lines: Sequence[tuple[Variant | str, int]],
        *,
        currency: str | None = None,
        location: Location | None = None,
        created_at: int | None = None,
        email: str | None = "customer@example.com",
        shipping: dict[str, Any] | None = None,
        billing: dict[str, Any] | None = None,
        financial_status: str = "PAID",
        emit: bool = True,
    ) -> Order:
        """Place an order; each line is a variant (or a custom item title) and a quantity."""
        with self.lock:
            loc = location or self.primary_location
            now = self.now() if created_at is None else created_at
            number = self.next_id("OrderNumber")
            address = shipping or self._address()
            order = Order(
                id=self.next_id("Order"),
                number=number,
                name=f"#{number}",
                created_at=now,
                updated_at=now,
                currency=currency or self.currency,
                lines=[],
                email=email,
                shipping=address,
                billing=billing or dict(address),
                financial_status=financial_status,
            )
            fo = FulfillmentOrder(self.next_id("FulfillmentOrder"), order.id, loc.id, created_at=now, updated_at=now)
            for item, quantity in lines:
                variant = item if isinstance(item, Variant) else None
                line = LineItem(
                    id=self.next_id("LineItem"),
                    variant_id=variant.id if variant else None,
                    sku=variant.sku if variant else None,
                    title=variant.product_title if variant else str(item),
                    quantity=quantity,
                    price=variant.price if variant else Decimal("0"),
                    current_quantity=quantity,
                )
                order.lines.append(line)
                fo.lines.append(FOLine(self.next_id("FulfillmentOrderLineItem"), line.id, quantity, quantity))
                level = self.level(variant, loc) if variant and variant.tracked else None
                if level is not None:
                    level.available -= quantity
                    level.committed += quantity
            if fo.lines:
                order.fulfillment_orders.append(fo)
            self.orders[order.id] = order
            if emit:
                self.emit("orders/create", order)
            return order

    def _address(self) -> dict[str, Any]:
        first, last = self.rng.choice(_NAMES)
        city, postcode = self.rng.choice(_CITIES)
        return {
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "company": None,
            "address1": f"{self.rng.choice(_STREETS)} {self.rng.randrange(1, 200)}",
            "address2": "",
            "zip": postcode,
            "city": city,
            "province": None,
            "country": "Netherlands",
            "country_code": "NL",
            "phone": f"+316{self.rng.randrange(10**8):08d}",
        }

    def generate_orders(self, count: int, *, max_lines: int = 3, max_quantity: int = 3) -> list[Order]:
        """Reproducible orders over the catalog (seeded with 20 products when empty)."""
        if not self.variants:
            self.seed_catalog(20)
        catalog = sorted(self.variants.values(), key=lambda v: v.id)
        made = []
        for _ in range(count):
            picks = self.rng.sample(catalog, k=min(len(catalog), self.rng.randint(1, max_lines)))
            made.append(self.add_order([(v, self.rng.randint(1, max_quantity)) for v in picks]))
        return made

    def touch(self, order: Order, *topics: str) -> None:
        order.updated_at = self.now()
        for topic in topics:
            self.emit(topic, order)

    def cancel_order(
        self, order: Order, *, reason: str = "CUSTOMER", restock: bool = True, refund: bool = True
    ) -> None:
        """Cancel on the store side (what a merchant or customer does in Shopify)."""
        with self.lock:
            self._apply_cancel(order, reason=reason, restock=restock, refund=refund)

    def _apply_cancel(self, order: Order, *, reason: str, restock: bool, refund: bool) -> None:
        if order.cancelled_at is not None:
            return
        for fo in order.fulfillment_orders:
            loc = self.locations[fo.location_id]
            for fo_line in fo.lines:
                line = self._line(order, fo_line.line_item_id)
                variant = self.variants.get(line.variant_id) if line.variant_id else None
                level = self.level(variant, loc) if variant else None
                if level is not None and fo_line.remaining:
                    level.committed -= fo_line.remaining
                    if restock:
                        level.available += fo_line.remaining
                fo_line.remaining = 0
            if fo.status in ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"):
                fo.status = "CANCELLED" if fo.status != "IN_PROGRESS" else "CLOSED"
                fo.updated_at = self.now()
        for line in order.lines:
            line.current_quantity = line.fulfilled
        order.cancelled_at = self.now()
        order.cancel_reason = reason
        if refund:
            order.financial_status = "REFUNDED" if order.financial_status == "PAID" else "VOIDED"
        self.touch(order, "orders/cancelled", "orders/updated")

    def remove_quantity(self, order: Order, line: LineItem, quantity: int, *, restock: bool = True) -> None:
        """An order edit on the store side removing ``quantity`` unfulfilled units of ``line``."""
        with self.lock:
            if quantity > line.unfulfilled:
                raise ValueError(f"only {line.unfulfilled} unfulfilled units of line {line.id}")
            line.current_quantity -= quantity
            left = quantity
            for fo in order.fulfillment_orders:
                for fo_line in fo.lines:
                    if fo_line.line_item_id == line.id and left:
                        take = min(left, fo_line.remaining)
                        fo_line.remaining -= take
                        fo_line.total -= take
                        left -= take
                        variant = self.variants.get(line.variant_id) if line.variant_id else None
                        level = self.level(variant, self.locations[fo.location_id]) if variant else None
                        if level is not None:
                            level.committed -= take
                            if restock:
                                level.available += take
                if all(fl.remaining == 0 for fl in fo.lines) and fo.status in ("OPEN", "IN_PROGRESS"):
                    fo.status = "CLOSED"
            self.touch(order, "orders/edited", "orders/updated")

    @staticmethod
    def _line(order: Order, line_id: int) -> LineItem:
        return next(line for line in order.lines if line.id == line_id)

    def fulfillment_status(self, order: Order) -> str:
        current = sum(line.current_quantity for line in order.lines)
        fulfilled = sum(line.fulfilled for line in order.lines)
        if current and fulfilled >= current:
            return "FULFILLED"
        if fulfilled:
            return "PARTIALLY_FULFILLED"
        return "UNFULFILLED"

    def run_due_jobs(self) -> None:
        with self.lock:
            now = self.clock.now()
            for job in self.jobs.values():
                if not job.done and job.ready_at <= now:
                    job.action()
                    job.done = True

    # ------------------------------------------------------------------ auth

    def register_app(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.apps[client_id] = client_secret

    def issue_app_token(self, client_id: str) -> str:
        with self.lock:
            token = "shpat_" + hashlib.sha256(self.uuid().encode()).hexdigest()[:32]
            self.app_tokens[token] = (client_id, self.clock.now() + self.token_lifetime)
            return token

    def app_for_token(self, token: str | None) -> str | None:
        """The app a token belongs to, or None when it is unknown or expired."""
        if not token:
            return None
        with self.lock:
            if token in self.admin_tokens:
                return self.admin_tokens[token]
            entry = self.app_tokens.get(token)
            if entry is None or entry[1] <= self.clock.now():
                return None
            return entry[0]

    # ------------------------------------------------------------------ webhooks

    def delivery(self, topic: str, order: Order, *, webhook_id: str | None = None) -> WebhookDelivery:
        """A signed delivery of ``order`` for ``topic`` (REST order body, Shopify's headers)."""
        body = json.dumps(rest_order(self, order), separators=(",", ":")).encode()
        signature = base64.b64encode(hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()).decode()
        webhook_id = webhook_id or self.uuid()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": self.uuid(),
            "X-Shopify-Triggered-At": datetime.fromtimestamp(self.clock.now(), UTC).isoformat().replace("+00:00", "Z"),
        }
        return WebhookDelivery(topic, webhook_id, headers, body)

    def emit(self, topic: str, order: Order) -> WebhookDelivery:
        with self.lock:
            delivery = self.delivery(topic, order)
            self.webhooks.append(delivery)
            return delivery

    def drain_webhooks(self) -> list[WebhookDelivery]:
        with self.lock:
            out, self.webhooks = self.webhooks, []
            return out

    # ------------------------------------------------------------------ targeted faults

    def inject_fault(self, target: str, kind: str, *, times: int = 1) -> None:
        """Fail the next ``times`` requests that run ``target`` (an operation name, a root field
        such as ``fulfillmentCreate``, or ``"*"`` for any): ``"error"`` answers 500 without doing
        the work, ``"timeout_before"`` loses the request, ``"timeout_after"`` does the work and
        loses the answer, ``"throttle"`` empties the cost bucket so Shopify answers THROTTLED.
        """
        if kind not in ("error", "timeout_before", "timeout_after", "throttle"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self.lock:
            self._operation_faults.extend([(target, kind)] * times)

    def take_fault(self, query: str, operation: str | None) -> str | None:
        with self.lock:
            if not self._operation_faults:
                return None
            names = {operation} if operation else set()
            try:
                for definition in parse(query).definitions:
                    if isinstance(definition, OperationDefinitionNode):
                        names.update(
                            sel.name.value for sel in definition.selection_set.selections if isinstance(sel, FieldNode)
                        )
            except GraphQLError:
                pass
            for index, (target, kind) in enumerate(self._operation_faults):
                if target == "*" or target in names:
                    del self._operation_faults[index]
                    return kind
            return None

    # ------------------------------------------------------------------ cost bucket

    def bucket(self, app: str) -> Bucket:
        now = self.clock.now()
        bucket = self.buckets.setdefault(app, Bucket(self.bucket_size, now))
        bucket.available = min(self.bucket_size, bucket.available + (now - bucket.at) * self.restore_rate)
        bucket.at = now
        return bucket

    def throttle_status(self, bucket: Bucket) -> dict[str, float]:
        return {
            "maximumAvailable": self.bucket_size,
            "currentlyAvailable": int(bucket.available),
            "restoreRate": self.restore_rate,
        }

    # ------------------------------------------------------------------ GraphQL

    def _checked(self, schema: GraphQLSchema, query: str) -> tuple[DocumentNode | None, list[Any]]:
        """Parse and validate ``query`` once; clients send the same few documents again and again."""
        cached = self._validated.get(query)
        if cached is None:
            try:
                document = parse(query)
            except GraphQLError as exc:
                cached = (None, [exc.formatted])
            else:
                errors = validate(schema, document)
                cached = (None, [e.formatted for e in errors]) if errors else (document, [])
            if len(self._validated) >= 512:
                self._validated.clear()
            self._validated[query] = cached
        return cached

    def execute(
        self,
        app: str,
        query: str,
        variables: Mapping[str, Any] | None,
        operation: str | None,
        *,
        short_by: float | None = None,
    ) -> dict[str, Any]:
        """Run one GraphQL request for ``app`` the way Shopify does, cost accounting included.

        ``short_by`` (seconds) first empties the bucket to that many seconds of restore below
        this query's cost, so it is answered THROTTLED (the ``"throttle"`` fault).
        """
        schema = load_schema()
        with self.lock:
            self.run_due_jobs()
            self.graphql_requests += 1
            self.documents[query] = self.documents.get(query, 0) + 1
            document, problems = self._checked(schema, query)
            if document is None:
                return {"errors": problems}
            op = get_operation_ast(document, operation)
            if op is None:
                return {
                    "errors": [
                        {
                            "message": f"No operation named '{operation}'"
                            if operation
                            else "An operation name is required"
                        }
                    ]
                }
            costing = _Cost(schema, document, dict(variables or {}))
            try:
                requested = costing.requested(op)
            except GraphQLError as exc:
                return {"errors": [exc.formatted]}
            if requested > self.max_query_cost:
                return {
                    "errors": [
                        {
                            "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                            f"({self.max_query_cost}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": self.max_query_cost,
                                "documentation": RATE_LIMIT_DOCS,
                            },
                        }
                    ]
                }
            bucket = self.bucket(app)
            if short_by is not None:
                bucket.available = max(0.0, requested - max(short_by * self.restore_rate, 1.0))
            if bucket.available < requested:
                self.throttled += 1
                return {
                    "errors": [
                        {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}
                    ],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": requested,
                            "actualQueryCost": None,
                            "throttleStatus": self.throttle_status(bucket),
                        }
                    },
                }
            bucket.available -= requested
            result = execute_sync(
                schema,
                document,
                root_value=_Root(self),
                variable_values=dict(variables or {}),
                operation_name=operation,
            )
            actual = costing.actual(op, result.data) if result.data is not None else 0
            bucket.available = min(self.bucket_size, bucket.available + max(0, requested - actual))
            response: dict[str, Any] = {}
            if result.errors:
                response["errors"] = [e.formatted for e in result.errors]
            response["data"] = result.data
            response["extensions"] = {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": actual,
                    "throttleStatus": self.throttle_status(bucket),
                }
            }
            return response


# ============================================================================== query cost


class _Cost:
    """Shopify's calculated query cost from the schema: objects 1, connections 2 + page × node,
    leaves 0, mutations 10 per root field; ``actual`` counts what was really returned."""

    def __init__(self, schema: GraphQLSchema, document: Any, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def requested(self, op: OperationDefinitionNode) -> int:
        if op.operation == OperationType.MUTATION:
            return 10 * len(self._fields(self.schema.mutation_type, op.selection_set))
        return self._selection(self.schema.query_type, op.selection_set, None, actual=False)

    def actual(self, op: OperationDefinitionNode, data: Any) -> int:
        if op.operation == OperationType.MUTATION:
            return self.requested(op)
        return self._selection(self.schema.query_type, op.selection_set, data, actual=True)

    def _fields(self, parent: Any, selection: SelectionSetNode) -> list[tuple[Any, FieldNode]]:
        out: list[tuple[Any, FieldNode]] = []
        for node in selection.selections:
            if isinstance(node, FieldNode):
                out.append((parent, node))
            elif isinstance(node, InlineFragmentNode):
                cond = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                out.extend(self._fields(cond, node.selection_set))
            elif isinstance(node, FragmentSpreadNode):
                frag = self.fragments[node.name.value]
                out.extend(self._fields(self.schema.get_type(frag.type_condition.name.value), frag.selection_set))
        return out

    def _selection(self, parent: Any, selection: SelectionSetNode, data: Any, *, actual: bool) -> int:
        total = 0
        for owner, node in self._fields(parent, selection):
            name = node.name.value
            if name.startswith("__"):
                continue
            field_def = owner.fields[name]
            key = node.alias.value if node.alias else name
            value = data.get(key) if isinstance(data, dict) else None
            total += self._field(field_def, node, value, actual=actual)
        return total

    def _field(self, field_def: Any, node: FieldNode, value: Any, *, actual: bool) -> int:
        named = get_named_type(field_def.type)
        if is_leaf_type(named) or node.selection_set is None:
            return 0
        if actual and value is None:
            return 0
        args = {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in node.arguments or ()}
        size = args.get("first") or args.get("last") or 0
        if not isinstance(size, int):
            size = 0
        if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection"):
            best = 0
            for owner, child in self._fields(named, node.selection_set):
                child_name = child.name.value
                key = child.alias.value if child.alias else child_name
                if child_name == "nodes" and child.selection_set is not None:
                    node_type = get_named_type(owner.fields["nodes"].type)
                    if actual:
                        items = value.get(key) or []
                        cost = sum(1 + self._selection(node_type, child.selection_set, i, actual=True) for i in items)
                    else:
                        cost = size * (1 + self._selection(node_type, child.selection_set, None, actual=False))
                    best = max(best, cost)
                elif child_name == "edges" and child.selection_set is not None:
                    edge_type = get_named_type(owner.fields["edges"].type)
                    for _, inner in self._fields(edge_type, child.selection_set):
                        if inner.name.value != "node" or inner.selection_set is None:
                            continue
                        node_type = get_named_type(edge_type.fields["node"].type)
                        inner_key = inner.alias.value if inner.alias else "node"
                        if actual:
                            edges = value.get(key) or []
                            cost = sum(
                                1 + self._selection(node_type, inner.selection_set, e.get(inner_key), actual=True)
                                for e in edges
                            )
                        else:
                            cost = size * (1 + self._selection(node_type, inner.selection_set, None, actual=False))
                        best = max(best, cost)
            return 2 + best
        inner_type = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
        if isinstance(inner_type, GraphQLList):
            if actual:
                return sum(1 + self._selection(named, node.selection_set, v, actual=True) for v in value if v)
            return (size or 1) * (1 + self._selection(named, node.selection_set, None, actual=False))
        return 1 + self._selection(named, node.selection_set, value, actual=actual)


# ============================================================================== resolvers


class _Page:
    """Cursor pagination as Shopify does it: opaque base64 cursors, ``first``/``last`` ≤ 250."""

    @staticmethod
    def cursor(key: tuple[Any, ...]) -> str:
        return base64.b64encode(json.dumps({"last_id": key[-1], "last_value": list(key)}).encode()).decode()

    @staticmethod
    def decode(cursor: str) -> tuple[Any, ...]:
        try:
            data = json.loads(base64.b64decode(cursor.encode(), validate=True))
            return tuple(data["last_value"])
        except (ValueError, KeyError, TypeError):
            raise GraphQLError(f"Invalid cursor for current pagination sort: '{cursor}'") from None

    @classmethod
    def connection(
        cls,
        items: Iterable[Any],
        key: Callable[[Any], tuple[Any, ...]],
        view: Callable[[Any], Any],
        args: Mapping[str, Any],
    ) -> dict[str, Any]:
        first, last = args.get("first"), args.get("last")
        if first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        for name, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise GraphQLError(
                    f"The {name} argument cannot exceed {MAX_PAGE}"
                    if value > MAX_PAGE
                    else f"The {name} argument must be a positive integer"
                )
        ordered = sorted(((key(i), i) for i in items), key=lambda pair: pair[0], reverse=bool(args.get("reverse")))
        rev = bool(args.get("reverse"))
        if args.get("after"):
            mark = cls.decode(args["after"])
            ordered = [p for p in ordered if (p[0] < mark if rev else p[0] > mark)]
        before_exists = bool(args.get("after"))
        if args.get("before"):
            mark = cls.decode(args["before"])
            ordered = [p for p in ordered if (p[0] > mark if rev else p[0] < mark)]
        has_next = has_prev = False
        if first is not None:
            has_next = len(ordered) > first
            ordered = ordered[:first]
        if last is not None:
            has_prev = len(ordered) > last
            ordered = ordered[-last:] if last else []
        has_prev = has_prev or before_exists
        nodes = [view(i) for _, i in ordered]
        edges = [{"cursor": cls.cursor(k), "node": n} for (k, _), n in zip(ordered, nodes, strict=True)]
        return {
            "nodes": nodes,
            "edges": edges,
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": has_prev,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }


_TERM = re.compile(r"""(?P<field>[a-z_]+):(?P<op>>=|<=|>|<)?(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>\S+))""")


def _search_terms(query: str | None) -> list[tuple[str, str, str]]:
    """``field:op value`` terms of Shopify's search syntax (joined with AND / spaces)."""
    terms = []
    for match in _TERM.finditer(query or ""):
        value = next(v for v in (match.group("sq"), match.group("dq"), match.group("bare")) if v is not None)
        terms.append((match.group("field"), match.group("op") or "=", value))
    return terms


def _timestamp(value: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"Invalid search date '{value}'") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _compare(left: Any, op: str, right: Any) -> bool:
    return bool(
        {"=": left == right, ">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    )


def _money_bag(amount: Decimal | str, currency: str) -> dict[str, Any]:
    text = amount if isinstance(amount, str) else money(amount)
    value = {"amount": text, "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": dict(value)}


class _Root:
    """Root value for both operation types: attribute names are the root fields."""

    def __init__(self, sim: SimState) -> None:
        self.sim = sim

    # -------------------------------------------------------------- views

    def location_view(self, loc: Location) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "Location",
            "id": gid("Location", loc.id),
            "legacyResourceId": str(loc.id),
            "name": loc.name,
            "isActive": loc.active,
            "isPrimary": loc is sim.primary_location,
            "fulfillsOnlineOrders": loc.fulfills_online_orders,
            "hasActiveInventory": lambda info: any(lid == loc.id for (_, lid) in sim.levels),
            "shipsInventory": True,
            "inventoryLevels": lambda info, **a: _Page.connection(
                [v for v in sim.variants.values() if (v.inventory_item_id, loc.id) in sim.levels],
                lambda v: (v.inventory_item_id,),
                lambda v: self.level_view(v, loc),
                a,
            ),
            "inventoryLevel": lambda info, inventoryItemId: self._level_for(inventoryItemId, loc),
        }

    def _level_for(self, item_gid: str, loc: Location) -> dict[str, Any] | None:
        item_id = _require_gid(item_gid, "InventoryItem")
        variant = self.sim.variant_by_item(item_id) if item_id else None
        if variant is None or (variant.inventory_item_id, loc.id) not in self.sim.levels:
            return None
        return self.level_view(variant, loc)

    def level_view(self, variant: Variant, loc: Location) -> dict[str, Any]:
        level = self.sim.levels[(variant.inventory_item_id, loc.id)]
        values = {
            "available": level.available,
            "committed": level.committed,
            "on_hand": level.available + level.committed,
        }

        def quantities(info: Any, names: list[str]) -> list[dict[str, Any]]:
            unknown = [n for n in names if n not in QUANTITY_NAMES]
            if unknown:
                raise GraphQLError(f"Invalid quantity names: {', '.join(unknown)}")
            return [
                {
                    "id": f"gid://shopify/InventoryQuantity/{loc.id}?inventory_item_id={variant.inventory_item_id}"
                    f"&name={n}",
                    "name": n,
                    "quantity": values.get(n, 0),
                    "updatedAt": iso(level.updated_at),
                }
                for n in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{loc.id}?inventory_item_id={variant.inventory_item_id}",
            "quantities": quantities,
            "item": lambda info: self.item_view(variant),
            "location": lambda info: self.location_view(loc),
            "updatedAt": iso(level.updated_at),
            "createdAt": iso(variant.created_at),
            "canDeactivate": True,
        }

    def item_view(self, variant: Variant) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", variant.inventory_item_id),
            "legacyResourceId": str(variant.inventory_item_id),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "requiresShipping": True,
            "createdAt": iso(variant.created_at),
            "updatedAt": iso(variant.created_at),
            "variant": lambda info: self.variant_view(variant),
            "inventoryLevel": lambda info, locationId: self._item_level(variant, locationId),
            "inventoryLevels": lambda info, **a: _Page.connection(
                [loc for loc in sim.locations.values() if (variant.inventory_item_id, loc.id) in sim.levels],
                lambda loc: (loc.id,),
                lambda loc: self.level_view(variant, loc),
                a,
            ),
        }

    def _item_level(self, variant: Variant, location_gid: str) -> dict[str, Any] | None:
        loc = self.sim.locations.get(_require_gid(location_gid, "Location") or 0)
        if loc is None or (variant.inventory_item_id, loc.id) not in self.sim.levels:
            return None
        return self.level_view(variant, loc)

    def variant_view(self, variant: Variant) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": str(variant.id),
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": variant.title,
            "displayName": f"{variant.product_title} - {variant.title}",
            "price": money(variant.price),
            "position": 1,
            "availableForSale": True,
            "taxable": True,
            "inventoryPolicy": "DENY",
            "inventoryQuantity": sum(
                lvl.available for (item, _), lvl in sim.levels.items() if item == variant.inventory_item_id
            ),
            "createdAt": iso(variant.created_at),
            "updatedAt": iso(variant.created_at),
            "inventoryItem": lambda info: self.item_view(variant),
            "product": lambda info: {
                "__typename": "Product",
                "id": gid("Product", variant.product_id),
                "legacyResourceId": str(variant.product_id),
                "title": variant.product_title,
                "handle": re.sub(r"[^a-z0-9]+", "-", variant.product_title.lower()).strip("-"),
            },
        }

    def address_view(self, address: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not address:
            return None
        return {
            "__typename": "MailingAddress",
            "name": address.get("name"),
            "firstName": address.get("first_name"),
            "lastName": address.get("last_name"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "zip": address.get("zip"),
            "city": address.get("city"),
            "province": address.get("province"),
            "country": address.get("country"),
            "countryCodeV2": address.get("country_code"),
            "phone": address.get("phone"),
        }

    def line_view(self, order: Order, line: LineItem) -> dict[str, Any]:
        variant = self.sim.variants.get(line.variant_id) if line.variant_id else None
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", line.id),
            "sku": line.sku,
            "name": line.title if variant is None else f"{variant.product_title} - {variant.title}",
            "title": line.title,
            "variantTitle": variant.title if variant else None,
            "quantity": line.quantity,
            "currentQuantity": line.current_quantity,
            "unfulfilledQuantity": line.unfulfilled,
            "fulfillableQuantity": line.unfulfilled,
            "nonFulfillableQuantity": line.quantity - line.current_quantity,
            "refundableQuantity": line.current_quantity,
            "requiresShipping": True,
            "isGiftCard": False,
            "originalUnitPriceSet": _money_bag(line.price, order.currency),
            "discountedUnitPriceSet": _money_bag(line.price, order.currency),
            "variant": (lambda info: self.variant_view(variant)) if variant else None,
        }

    def fo_view(self, order: Order, fo: FulfillmentOrder) -> dict[str, Any]:
        loc = self.sim.locations[fo.location_id]
        open_ = fo.status in ("OPEN", "IN_PROGRESS")
        return {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", fo.id),
            "status": fo.status,
            "requestStatus": "UNSUBMITTED",
            "orderId": gid("Order", order.id),
            "orderName": order.name,
            "createdAt": iso(fo.created_at),
            "updatedAt": iso(fo.updated_at),
            "assignedLocation": {
                "name": loc.name,
                "countryCode": "NL",
                "location": lambda info: self.location_view(loc),
            },
            "supportedActions": [{"action": "CREATE_FULFILLMENT"}] if open_ else [],
            "lineItems": lambda info, **a: _Page.connection(
                fo.lines, lambda li: (li.id,), lambda li: self.fo_line_view(order, li), a
            ),
            "order": lambda info: self.order_view(order),
        }

    def fo_line_view(self, order: Order, fo_line: FOLine) -> dict[str, Any]:
        line = SimState._line(order, fo_line.line_item_id)
        variant = self.sim.variants.get(line.variant_id) if line.variant_id else None
        return {
            "__typename": "FulfillmentOrderLineItem",
            "id": gid("FulfillmentOrderLineItem", fo_line.id),
            "remainingQuantity": fo_line.remaining,
            "totalQuantity": fo_line.total,
            "sku": line.sku,
            "productTitle": line.title,
            "requiresShipping": True,
            "inventoryItemId": gid("InventoryItem", variant.inventory_item_id) if variant else None,
            "lineItem": lambda info: self.line_view(order, line),
            "variant": (lambda info: self.variant_view(variant)) if variant else None,
            "warnings": [],
        }

    def fulfillment_view(self, order: Order, ful: Fulfillment) -> dict[str, Any]:
        return {
            "__typename": "Fulfillment",
            "id": gid("Fulfillment", ful.id),
            "legacyResourceId": str(ful.id),
            "name": ful.name,
            "status": ful.status,
            "displayStatus": "FULFILLED" if ful.status == "SUCCESS" else None,
            "createdAt": iso(ful.created_at),
            "updatedAt": iso(ful.created_at),
            "requiresShipping": True,
            "totalQuantity": sum(li.quantity for li in ful.lines),
            "trackingInfo": lambda info, first=None: [dict(t) for t in ful.tracking][: first if first else None],
            "fulfillmentLineItems": lambda info, **a: _Page.connection(
                ful.lines,
                lambda fl: (fl.id,),
                lambda fl: {
                    "__typename": "FulfillmentLineItem",
                    "id": gid("FulfillmentLineItem", fl.id),
                    "quantity": fl.quantity,
                    "lineItem": lambda info: self.line_view(order, SimState._line(order, fl.line_item_id)),
                },
                a,
            ),
            "location": lambda info: self.location_view(self.sim.locations[ful.location_id]),
            "order": lambda info: self.order_view(order),
        }

    def order_view(self, order: Order) -> dict[str, Any]:
        sim = self.sim
        total = order.total_override if order.total_override is not None else order.total
        current_total = sum((li.price * li.current_quantity for li in order.lines), Decimal("0"))
        return {
            "__typename": "Order",
            "id": gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "createdAt": iso(order.created_at),
            "updatedAt": iso(order.updated_at),
            "processedAt": iso(order.created_at),
            "cancelledAt": iso(order.cancelled_at),
            "cancelReason": order.cancel_reason,
            "closed": order.closed_at is not None,
            "closedAt": iso(order.closed_at),
            "confirmed": True,
            "test": order.test,
            "email": order.email,
            "phone": order.phone,
            "note": None,
            "tags": [],
            "sourceName": "web",
            "requiresShipping": True,
            "currencyCode": order.currency,
            "presentmentCurrencyCode": order.currency,
            "displayFinancialStatus": order.financial_status,
            "displayFulfillmentStatus": sim.fulfillment_status(order),
            "totalPriceSet": _money_bag(total, order.currency),
            "subtotalPriceSet": _money_bag(total, order.currency),
            "currentTotalPriceSet": _money_bag(current_total, order.currency),
            "billingAddress": self.address_view(order.billing),
            "shippingAddress": self.address_view(order.shipping),
            "lineItems": lambda info, **a: _Page.connection(
                order.lines, lambda li: (li.id,), lambda li: self.line_view(order, li), a
            ),
            "fulfillmentOrders": lambda info, **a: _Page.connection(
                order.fulfillment_orders, lambda fo: (fo.id,), lambda fo: self.fo_view(order, fo), a
            ),
            "fulfillments": lambda info, first=None: [self.fulfillment_view(order, f) for f in order.fulfillments][
                : first if first else None
            ],
        }

    # -------------------------------------------------------------- query root

    def shop(self, info: Any) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "Shop",
            "id": gid("Shop", 1),
            "name": sim.shop_name,
            "email": f"owner@{sim.shop_domain}",
            "myshopifyDomain": sim.shop_domain,
            "currencyCode": sim.currency,
            "ianaTimezone": "UTC",
        }

    def _visible_orders(self) -> list[Order]:
        if self.sim.read_all_orders:
            return list(self.sim.orders.values())
        horizon = self.sim.now() - ORDER_WINDOW_DAYS * 86_400
        return [o for o in self.sim.orders.values() if o.created_at >= horizon]

    def _order_matches(self, order: Order, terms: list[tuple[str, str, str]]) -> bool:
        for name, op, value in terms:
            if name in ("updated_at", "created_at", "processed_at"):
                stamp = order.updated_at if name == "updated_at" else order.created_at
                if not _compare(stamp, op, _timestamp(value)):
                    return False
            elif name == "status":
                closed = order.closed_at is not None
                cancelled = order.cancelled_at is not None
                state = {
                    "open": not closed and not cancelled,
                    "closed": closed,
                    "cancelled": cancelled,
                    "not_closed": not closed,
                    "any": True,
                }.get(value.lower(), True)
                if not state:
                    return False
            elif name == "name":
                if order.name.lstrip("#") != value.lstrip("#"):
                    return False
            elif name == "id":
                if not _compare(order.id, op, int(value)):
                    return False
            elif name == "fulfillment_status":
                status = self.sim.fulfillment_status(order)
                wanted = {
                    "shipped": ("FULFILLED",),
                    "fulfilled": ("FULFILLED",),
                    "partial": ("PARTIALLY_FULFILLED",),
                    "unshipped": ("UNFULFILLED",),
                    "unfulfilled": ("UNFULFILLED", "PARTIALLY_FULFILLED"),
                }
                if status not in wanted.get(value.lower(), (status,)):
                    return False
            elif name == "sku" and not any(li.sku == value for li in order.lines):
                return False
        return True

    def orders(self, info: Any, **args: Any) -> dict[str, Any]:
        terms = _search_terms(args.get("query"))
        matches = [o for o in self._visible_orders() if self._order_matches(o, terms)]
        sort = args.get("sortKey") or "PROCESSED_AT"
        keys: dict[str, Callable[[Order], tuple[Any, ...]]] = {
            "UPDATED_AT": lambda o: (o.updated_at, o.id),
            "CREATED_AT": lambda o: (o.created_at, o.id),
            "PROCESSED_AT": lambda o: (o.created_at, o.id),
            "ORDER_NUMBER": lambda o: (o.number, o.id),
        }
        return _Page.connection(matches, keys.get(sort, lambda o: (o.id,)), self.order_view, args)

    def order(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "Order")
        order = self.sim.orders.get(number) if number else None
        return self.order_view(order) if order else None

    def location(self, info: Any, id: str | None = None) -> dict[str, Any] | None:
        if id is None:
            return self.location_view(self.sim.primary_location)
        number = _require_gid(id, "Location")
        loc = self.sim.locations.get(number) if number else None
        return self.location_view(loc) if loc else None

    def locations(self, info: Any, **args: Any) -> dict[str, Any]:
        locs = [loc for loc in self.sim.locations.values() if loc.active or args.get("includeInactive")]
        return _Page.connection(locs, lambda loc: (loc.id,), self.location_view, args)

    def _variants_matching(self, query: str | None) -> list[Variant]:
        terms = _search_terms(query)
        out = []
        for v in self.sim.variants.values():
            if all(
                (name != "sku" or v.sku == value) and (name != "barcode" or v.barcode == value)
                for name, _, value in terms
            ):
                out.append(v)
        return out

    def productVariants(self, info: Any, **args: Any) -> dict[str, Any]:
        return _Page.connection(self._variants_matching(args.get("query")), lambda v: (v.id,), self.variant_view, args)

    def productVariant(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "ProductVariant")
        variant = self.sim.variants.get(number) if number else None
        return self.variant_view(variant) if variant else None

    def inventoryItems(self, info: Any, **args: Any) -> dict[str, Any]:
        return _Page.connection(
            self._variants_matching(args.get("query")), lambda v: (v.inventory_item_id,), self.item_view, args
        )

    def inventoryItem(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "InventoryItem")
        variant = self.sim.variant_by_item(number) if number else None
        return self.item_view(variant) if variant else None

    def job(self, info: Any, id: str) -> dict[str, Any] | None:
        job = self.sim.jobs.get(id)
        return {"__typename": "Job", "id": job.id, "done": job.done, "query": None} if job else None

    # -------------------------------------------------------------- mutation root

    def fulfillmentCreate(self, info: Any, fulfillment: dict[str, Any], message: str | None = None) -> dict[str, Any]:
        sim = self.sim
        groups = fulfillment.get("lineItemsByFulfillmentOrder") or []

        def fail(msg: str, *path: str) -> dict[str, Any]:
            return {"fulfillment": None, "userErrors": [{"field": ["fulfillment", *path], "message": msg}]}

        if not groups:
            return fail("Line items by fulfillment order can't be blank.", "lineItemsByFulfillmentOrder")
        resolved: list[tuple[Order, FulfillmentOrder, list[tuple[FOLine, int]]]] = []
        for g_index, group in enumerate(groups):
            fo_id = parse_gid(group.get("fulfillmentOrderId"), "FulfillmentOrder")
            found = next(((o, fo) for o in sim.orders.values() for fo in o.fulfillment_orders if fo.id == fo_id), None)
            where = ("lineItemsByFulfillmentOrder", str(g_index), "fulfillmentOrderId")
            if found is None:
                return fail("Fulfillment order does not exist.", *where)
            order, fo = found
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                return fail(
                    f"Fulfillment order {gid('FulfillmentOrder', fo.id)} has an unfulfillable status= "
                    f"{fo.status.lower()}.",
                    *where,
                )
            wanted = group.get("fulfillmentOrderLineItems")
            picks: list[tuple[FOLine, int]] = []
            if not wanted:
                picks = [(li, li.remaining) for li in fo.lines if li.remaining > 0]
            else:
                for item in wanted:
                    li_id = parse_gid(item.get("id"), "FulfillmentOrderLineItem")
                    fo_line = next((li for li in fo.lines if li.id == li_id), None)
                    if fo_line is None:
                        return fail("Invalid fulfillment order line item id.", *where[:2], "fulfillmentOrderLineItems")
                    if not 0 < item["quantity"] <= fo_line.remaining:
                        return fail(
                            "Invalid fulfillment order line item quantity requested.",
                            *where[:2],
                            "fulfillmentOrderLineItems",
                        )
                    picks.append((fo_line, item["quantity"]))
            if not picks:
                return fail("Fulfillment order has no remaining line items.", *where)
            resolved.append((order, fo, picks))
        if len({o.id for o, _, _ in resolved}) > 1:
            return fail("All fulfillment orders must belong to the same order.", "lineItemsByFulfillmentOrder")
        if len({fo.location_id for _, fo, _ in resolved}) > 1:
            return fail("All fulfillment orders must be assigned to the same location.", "lineItemsByFulfillmentOrder")
        tracking = fulfillment.get("trackingInfo") or {}
        if tracking.get("url") and not tracking.get("number"):
            return fail("Tracking number must be provided when a tracking URL is.", "trackingInfo", "number")
        order = resolved[0][0]
        location = sim.locations[resolved[0][1].location_id]
        lines: list[FulfillmentLine] = []
        for _, fo, picks in resolved:
            for fo_line, quantity in picks:
                fo_line.remaining -= quantity
                line = SimState._line(order, fo_line.line_item_id)
                line.fulfilled += quantity
                variant = sim.variants.get(line.variant_id) if line.variant_id else None
                level = sim.level(variant, location) if variant else None
                if level is not None:
                    level.committed -= quantity
                lines.append(FulfillmentLine(sim.next_id("FulfillmentLineItem"), line.id, quantity))
            fo.status = "CLOSED" if all(li.remaining == 0 for li in fo.lines) else "IN_PROGRESS"
            fo.updated_at = sim.now()
        numbers = [tracking["number"]] if tracking.get("number") else list(tracking.get("numbers") or [])
        urls = [tracking["url"]] if tracking.get("url") else list(tracking.get("urls") or [])
        info_rows: list[dict[str, str | None]] = [
            {"company": tracking.get("company"), "number": n, "url": urls[i] if i < len(urls) else None}
            for i, n in enumerate(numbers)
        ] or ([{"company": tracking.get("company"), "number": None, "url": None}] if tracking.get("company") else [])
        ful = Fulfillment(
            id=sim.next_id("Fulfillment"),
            order_id=order.id,
            location_id=location.id,
            name=f"{order.name}-F{len(order.fulfillments) + 1}",
            status="SUCCESS",
            created_at=sim.now(),
            tracking=info_rows,
            lines=lines,
            notify_customer=bool(fulfillment.get("notifyCustomer")),
        )
        order.fulfillments.append(ful)
        topic = "orders/fulfilled" if sim.fulfillment_status(order) == "FULFILLED" else "orders/partially_fulfilled"
        sim.touch(order, topic, "orders/updated")
        return {"fulfillment": self.fulfillment_view(order, ful), "userErrors": []}

    def inventorySetQuantities(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        sim = self.sim
        quantities = input.get("quantities") or []
        if len(quantities) > MAX_INPUT:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than the maximum allowed of {MAX_INPUT}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        errors: list[dict[str, Any]] = []

        def error(code: str, message: str, *path: str) -> None:
            errors.append({"code": code, "field": ["input", *path], "message": message})

        if input.get("name") not in ("available", "on_hand"):
            error("INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.", "name")
        if input.get("reason") not in SET_REASONS:
            error("INVALID_REASON", "The specified reason is invalid.", "reason")
        ref = input.get("referenceDocumentUri")
        if ref is not None and not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", ref):
            error("INVALID_REFERENCE_DOCUMENT", "The reference document URI isn't a valid URI.", "referenceDocumentUri")
        ignore = bool(input.get("ignoreCompareQuantity"))
        seen: set[tuple[int, int]] = set()
        targets: list[tuple[Variant, Location, int]] = []
        for index, row in enumerate(quantities):
            at = ("quantities", str(index))
            item_id = parse_gid(row.get("inventoryItemId"), "InventoryItem")
            variant = sim.variant_by_item(item_id) if item_id else None
            loc_id = parse_gid(row.get("locationId"), "Location")
            loc = sim.locations.get(loc_id) if loc_id else None
            quantity = row["quantity"]
            if variant is None:
                error(
                    "INVALID_INVENTORY_ITEM", "The specified inventory item could not be found.", *at, "inventoryItemId"
                )
                continue
            if loc is None:
                error("INVALID_LOCATION", "The specified location could not be found.", *at, "locationId")
                continue
            level = sim.levels.get((variant.inventory_item_id, loc.id))
            if level is None:
                error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    "The specified inventory item is not stocked at the location.",
                    *at,
                    "locationId",
                )
                continue
            if (variant.inventory_item_id, loc.id) in seen:
                error(
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    "The combination of inventoryItemId and locationId must be unique.",
                    *at,
                    "inventoryItemId",
                )
                continue
            seen.add((variant.inventory_item_id, loc.id))
            if quantity < 0:
                error("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.", *at, "quantity")
                continue
            if quantity > 1_000_000_000:
                error("INVALID_QUANTITY_TOO_HIGH", "The quantity can't be higher than 1,000,000,000.", *at, "quantity")
                continue
            if quantity < -1_000_000_000:
                error("INVALID_QUANTITY_TOO_LOW", "The quantity can't be lower than -1,000,000,000.", *at, "quantity")
                continue
            persisted = level.available if input.get("name") != "on_hand" else level.available + level.committed
            if not ignore:
                compare = row.get("compareQuantity")
                if compare is None:
                    error(
                        "COMPARE_QUANTITY_REQUIRED",
                        "The compareQuantity argument must be given to each quantity or ignored using "
                        "ignoreCompareQuantity.",
                        *at,
                        "compareQuantity",
                    )
                    continue
                if compare != persisted:
                    error(
                        "COMPARE_QUANTITY_STALE",
                        "The compareQuantity value does not match persisted value.",
                        *at,
                        "compareQuantity",
                    )
                    continue
            targets.append((variant, loc, quantity))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes: list[tuple[str, int, int, Variant, Location]] = []
        for variant, loc, quantity in targets:
            level = sim.levels[(variant.inventory_item_id, loc.id)]
            before = level.available if input.get("name") != "on_hand" else level.available + level.committed
            delta = quantity - before
            if delta == 0:
                continue
            level.available += delta
            level.updated_at = sim.now()
            for name, after in (("available", level.available), ("on_hand", level.available + level.committed)):
                changes.append((name, delta, after, variant, loc))
        group = {
            "id": gid("InventoryAdjustmentGroup", sim.next_id("InventoryAdjustmentGroup")),
            "reason": input["reason"],
            "referenceDocumentUri": ref,
            "createdAt": iso(sim.now()),
            "items": len(targets),
        }
        sim.adjustment_groups.append(group)
        view = dict(group)
        view["changes"] = [self._change_view(*change) for change in changes]
        return {"inventoryAdjustmentGroup": view, "userErrors": []}

    def _change_view(self, name: str, delta: int, after: int, variant: Variant, loc: Location) -> dict[str, Any]:
        return {
            "name": name,
            "delta": delta,
            "quantityAfterChange": after,
            "ledgerDocumentUri": None,
            "item": lambda info: self.item_view(variant),
            "location": lambda info: self.location_view(loc),
        }

    def orderCancel(
        self,
        info: Any,
        orderId: str,
        refund: bool,
        restock: bool,
        reason: str,
        notifyCustomer: bool | None = None,
        staffNote: str | None = None,
    ) -> dict[str, Any]:
        sim = self.sim
        number = parse_gid(orderId, "Order")
        order = sim.orders.get(number) if number else None

        def fail(code: str, message: str) -> dict[str, Any]:
            error = {"code": code, "field": ["orderId"], "message": message}
            return {
                "job": None,
                "orderCancelUserErrors": [error],
                "userErrors": [{"field": ["orderId"], "message": message}],
            }

        if order is None:
            return fail("NOT_FOUND", "Order does not exist.")
        if order.cancelled_at is not None:
            return fail("INVALID", "Order has already been cancelled.")
        if any(f.status == "SUCCESS" for f in order.fulfillments):
            return fail("INVALID", "Cannot cancel an order with fulfillments; cancel the fulfillments first.")
        job = Job(
            id=f"gid://shopify/Job/{sim.uuid()}",
            ready_at=sim.clock.now() + CANCEL_JOB_SECONDS,
            action=lambda: sim._apply_cancel(order, reason=reason, restock=restock, refund=refund),
        )
        sim.jobs[job.id] = job
        return {
            "job": {"__typename": "Job", "id": job.id, "done": False, "query": None},
            "orderCancelUserErrors": [],
            "userErrors": [],
        }


# ============================================================================== REST payloads


def _rest_money(amount: Decimal | str, currency: str) -> dict[str, Any]:
    text = amount if isinstance(amount, str) else money(amount)
    value = {"amount": text, "currency_code": currency}
    return {"shop_money": value, "presentment_money": dict(value)}


def _rest_line(sim: SimState, order: Order, line: LineItem, quantity: int | None = None) -> dict[str, Any]:
    variant = sim.variants.get(line.variant_id) if line.variant_id else None
    if line.fulfilled == 0:
        status = None
    elif line.fulfilled >= line.current_quantity:
        status = "fulfilled"
    else:
        status = "partial"
    return {
        "id": line.id,
        "admin_graphql_api_id": gid("LineItem", line.id),
        "attributed_staffs": [],
        "current_quantity": line.current_quantity,
        "fulfillable_quantity": line.unfulfilled,
        "fulfillment_service": "manual",
        "fulfillment_status": status,
        "gift_card": False,
        "grams": 0,
        "name": line.title if variant is None else f"{variant.product_title} - {variant.title}",
        "price": money(line.price),
        "price_set": _rest_money(line.price, order.currency),
        "product_exists": variant is not None,
        "product_id": variant.product_id if variant else None,
        "properties": [],
        "quantity": line.quantity if quantity is None else quantity,
        "requires_shipping": True,
        "sku": line.sku,
        "taxable": True,
        "title": line.title,
        "total_discount": "0.00",
        "total_discount_set": _rest_money(Decimal("0"), order.currency),
        "variant_id": variant.id if variant else None,
        "variant_inventory_management": "shopify" if variant and variant.tracked else None,
        "variant_title": variant.title if variant else None,
        "vendor": None,
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def _rest_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    keys = (
        "first_name",
        "address1",
        "phone",
        "city",
        "zip",
        "province",
        "country",
        "last_name",
        "address2",
        "company",
        "name",
        "country_code",
    )
    out = {k: address.get(k) for k in keys}
    out["latitude"] = None
    out["longitude"] = None
    out["province_code"] = None
    return out


def rest_order(sim: SimState, order: Order) -> dict[str, Any]:
    """``order`` as the REST resource Shopify posts in ``orders/*`` webhooks (2026-07 shape)."""
    cur = order.currency
    total = order.total
    current = sum((li.price * li.current_quantity for li in order.lines), Decimal("0"))
    status = sim.fulfillment_status(order)
    zero = Decimal("0")
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "app_id": None,
        "browser_ip": None,
        "buyer_accepts_marketing": False,
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "cancelled_at": rest_time(order.cancelled_at),
        "closed_at": rest_time(order.closed_at),
        "confirmation_number": None,
        "confirmed": True,
        "contact_email": order.email,
        "created_at": rest_time(order.created_at),
        "currency": cur,
        "current_subtotal_price": money(current),
        "current_subtotal_price_set": _rest_money(current, cur),
        "current_total_discounts": "0.00",
        "current_total_discounts_set": _rest_money(zero, cur),
        "current_total_price": money(current),
        "current_total_price_set": _rest_money(current, cur),
        "current_total_tax": "0.00",
        "current_total_tax_set": _rest_money(zero, cur),
        "customer_locale": None,
        "discount_codes": [],
        "duties_included": False,
        "email": order.email,
        "estimated_taxes": False,
        "financial_status": order.financial_status.lower(),
        "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(status),
        "location_id": None,
        "name": order.name,
        "note": None,
        "note_attributes": [],
        "number": order.number - 1000,
        "order_number": order.number,
        "payment_gateway_names": [],
        "phone": order.phone,
        "presentment_currency": cur,
        "processed_at": rest_time(order.created_at),
        "source_name": "web",
        "subtotal_price": money(total),
        "subtotal_price_set": _rest_money(total, cur),
        "tags": "",
        "tax_exempt": False,
        "tax_lines": [],
        "taxes_included": False,
        "test": order.test,
        "total_discounts": "0.00",
        "total_discounts_set": _rest_money(zero, cur),
        "total_line_items_price": money(total),
        "total_line_items_price_set": _rest_money(total, cur),
        "total_outstanding": "0.00",
        "total_price": money(total),
        "total_price_set": _rest_money(total, cur),
        "total_shipping_price_set": _rest_money(zero, cur),
        "total_tax": "0.00",
        "total_tax_set": _rest_money(zero, cur),
        "total_weight": 0,
        "updated_at": rest_time(order.updated_at),
        "user_id": None,
        "billing_address": _rest_address(order.billing),
        "shipping_address": _rest_address(order.shipping),
        "discount_applications": [],
        "fulfillments": [
            {
                "id": f.id,
                "admin_graphql_api_id": gid("Fulfillment", f.id),
                "created_at": rest_time(f.created_at),
                "location_id": f.location_id,
                "name": f.name,
                "order_id": order.id,
                "origin_address": {},
                "receipt": {},
                "service": "manual",
                "shipment_status": None,
                "status": f.status.lower(),
                "tracking_company": f.tracking[0]["company"] if f.tracking else None,
                "tracking_number": f.tracking[0]["number"] if f.tracking else None,
                "tracking_numbers": [t["number"] for t in f.tracking if t["number"]],
                "tracking_url": f.tracking[0]["url"] if f.tracking else None,
                "tracking_urls": [t["url"] for t in f.tracking if t["url"]],
                "updated_at": rest_time(f.created_at),
                "line_items": [
                    _rest_line(sim, order, SimState._line(order, fl.line_item_id), fl.quantity) for fl in f.lines
                ],
            }
            for f in order.fulfillments
        ],
        "line_items": [_rest_line(sim, order, line) for line in order.lines],
        "refunds": [],
        "shipping_lines": [],
    }


# ============================================================================== HTTP


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


async def _graphql(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    app = sim.app_for_token(request.headers.get("x-shopify-access-token"))
    if app is None:
        return _json({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}, 401)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        return _json({"errors": {"variables": "must be a JSON object"}}, 400)
    fault = sim.take_fault(body["query"], body.get("operationName"))
    if fault == "error":
        return _json({"errors": "Internal Server Error"}, 500)
    if fault == "timeout_before":
        raise httpx.ReadTimeout("simulated timeout (request lost before processing)")
    short = sim.throttle_pause if fault == "throttle" else None
    result = sim.execute(app, body["query"], variables, body.get("operationName"), short_by=short)
    if fault == "timeout_after":
        raise httpx.ReadTimeout("simulated timeout (processed, answer lost)")
    return _json(result)


async def _access_token(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    try:
        body = await request.json()
    except ValueError:
        body = dict((await request.form()).items())
    if not isinstance(body, dict):
        body = {}
    if body.get("grant_type") != "client_credentials":
        return _json(
            {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type {body.get('grant_type')!r} is not supported",
            },
            400,
        )
    client_id, secret = str(body.get("client_id") or ""), str(body.get("client_secret") or "")
    known = sim.apps.get(client_id)
    if known is None or not hmac.compare_digest(known.encode(), secret.encode()):
        return _json({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
    token = sim.issue_app_token(client_id)
    return _json({"access_token": token, "scope": SCOPES, "expires_in": sim.token_lifetime})


async def _not_found(request: Request) -> Response:
    return _json({"errors": "Not Found"}, 404)


class FaultInjector:
    """ASGI middleware applying a ``Faults`` plan: 5xx, lost answers (before or after the work), delays.

    A lost answer surfaces in the client as ``httpx.ReadTimeout``, exactly what a real timeout
    looks like from the calling side.
    """

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not self.faults.applies(path):
            await self.app(scope, receive, send)
            return
        await maybe_delay(self.faults, path)
        if self.faults.roll(self.faults.error_rate):
            await JSONResponse({"errors": "Internal Server Error"}, status_code=500)(scope, receive, send)
            return
        if self.faults.roll(self.faults.timeout_rate):
            raise httpx.ReadTimeout(f"simulated timeout on {path} (not processed)")
        if self.faults.roll(self.faults.timeout_after_apply_rate):

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            raise httpx.ReadTimeout(f"simulated timeout on {path} (processed, answer lost)")
        await self.app(scope, receive, send)


def create_app(
    state: SimState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    catalog_size: int = 20,
    bucket_size: float = BUCKET_SIZE,
    restore_rate: float = RESTORE_RATE,
) -> Starlette:
    """The simulator app; its ``SimState`` is ``app.state.sim``.

    Without a ``state`` the shop starts with one location and ``catalog_size`` seeded products;
    ``bucket_size``/``restore_rate`` set its cost bucket (benchmarks raise them).
    """
    if state is None:
        state = SimState(seed=seed, clock=clock, bucket_size=bucket_size, restore_rate=restore_rate)
        state.seed_catalog(catalog_size)
    elif clock is not None:
        state.clock = clock
    middleware = [Middleware(FaultInjector, faults=faults)] if faults is not None else []
    app = Starlette(
        routes=[
            Route(GRAPHQL_PATH, _graphql, methods=["POST"]),
            Route(TOKEN_PATH, _access_token, methods=["POST"]),
            Route("/admin/api/{version}/graphql.json", _not_found, methods=["POST"]),
        ],
        middleware=middleware,
    )
    app.state.sim = state
    return app
