"""What the simulated shop holds (locations, variants, orders, fulfillments, jobs); Shopify's id and money formats."""

from __future__ import annotations

import functools
import gzip
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    build_client_schema,
)

from kade.plugins.shopify.queries import API_VERSION

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
SCHEMA_FILE = Path(__file__).resolve().parent.parent / (f"admin-schema-{API_VERSION}.introspection.json.gz")


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



def line_of(order: Order, line_id: int) -> LineItem:
    """The order's line with ``line_id``."""
    return next(line for line in order.lines if line.id == line_id)


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

