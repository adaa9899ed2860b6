"""The simulated shop's data: API keys, products, attribute combinations, orders and their rows.

One state is one shop on its own domain. Everything is in memory and guarded by ``lock``; the
clock is a ``SimClock`` tests move (signature skew, the per-minute windows).
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kade.sim.base import Faults, RateLimit, RateLimiter, ScriptedFault, ScriptedFaults, SimClock

HOST = "demo.ccvshop.test"
#: every resource the simulator serves (what the API root lists for a key with full access)
RESOURCES = ("orders", "orderrows", "products", "attributecombinations")
#: generous defaults; tests and the benchmark set small ones
DEFAULT_LIMITS = (10_000, 5_000)
STATUS_IDS = frozenset(range(1, 15))


@dataclass
class ApiKey:
    public: str
    secret: str
    kind: str = "api_key"
    active: bool = True
    resources: tuple[str, ...] = RESOURCES


@dataclass
class Product:
    id: int
    productnumber: str
    eannumber: str = ""
    name: str = ""
    price: Decimal = Decimal("9.95")
    stock: float = 0.0
    stockenabled: bool = True
    #: "product": stock on the product; "attribute": on its attribute combinations
    stocktype: str = "product"
    patch: dict[str, Any] = field(default_factory=dict)


@dataclass
class Combination:
    id: int
    product_id: int
    product_number: str
    sku_number: str = ""
    ean_number: str = ""
    stock: float = 0.0
    active: bool = True
    patch: dict[str, Any] = field(default_factory=dict)


@dataclass
class Row:
    id: int
    order_id: int
    product_id: int
    product_name: str
    product_number: str
    count: float
    price: Decimal
    sub_product_number: str = ""
    sub_sku_number: str = ""
    sub_ean_number: str = ""
    product_type: str = "product"
    patch: dict[str, Any] = field(default_factory=dict)


@dataclass
class Order:
    id: int
    ordernumber: int
    create_date: float
    rows: list[Row]
    status: int = 1
    paid: bool = True
    is_completed: bool = True
    currency: str = "EUR"
    track_and_trace_code: str = ""
    track_and_trace_carrier: str = ""
    customer: dict[str, Any] = field(default_factory=dict)
    #: every PATCH that set status 5 (sent), with the track & trace it carried: the harness counts
    #: shipment reports from it, so a duplicate report can never hide
    sent_reports: list[str] = field(default_factory=list)
    mails: int = 0
    patch: dict[str, Any] = field(default_factory=dict)

    @property
    def total_price(self) -> Decimal:
        return sum((r.price * Decimal(str(r.count)) for r in self.rows), Decimal("0"))


class CcvState:
    """One shop; ``limits`` = (total per minute, per resource and method per minute)."""

    def __init__(self, *, clock: SimClock | None = None, host: str = HOST,
                 limits: tuple[int, int] = DEFAULT_LIMITS) -> None:
        self.clock = clock or SimClock()
        self.host = host
        self.lock = threading.RLock()
        self.keys: dict[str, ApiKey] = {}
        self.products: dict[int, Product] = {}
        self.combinations: dict[int, Combination] = {}
        self.orders: dict[int, Order] = {}
        self.rows: dict[int, Row] = {}
        self.limiter = RateLimiter(self.clock, {"total": RateLimit(limits[0], 60.0),
                                                "method": RateLimit(limits[1], 60.0)})
        self.faults = Faults()
        self.scripted_faults = ScriptedFaults()
        #: (method, uri) of every request that reached the shop
        self.requests: list[tuple[str, str]] = []
        #: whether a 429 names its wait in Retry-After (CCV does not document one)
        self.send_retry_after = True
        #: what to do to the next answers' signatures, one entry per answer: "missing" or "wrong"
        self.tamper: list[str] = []
        self._ids = {"product": 100, "combination": 500, "order": 1000, "row": 5000, "number": 2026000}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def inject(self, kind: str, path: str = "/", *, method: str | None = None, status: int = 503,
               count: int = 1, retry_after: float = 1.0, seconds: float = 0.0) -> ScriptedFault:
        return self.scripted_faults.add(ScriptedFault(kind=kind, path=path, method=method, status=status,
                                                      count=count, retry_after=retry_after, seconds=seconds))

    def take_tamper(self) -> str | None:
        with self.lock:
            return self.tamper.pop(0) if self.tamper else None

    # -- keys --------------------------------------------------------------------------------

    def create_key(self, kind: str = "api_key", resources: tuple[str, ...] = RESOURCES) -> ApiKey:
        with self.lock:
            key = ApiKey(public=secrets.token_hex(16), secret=secrets.token_hex(32), kind=kind, resources=resources)
            self.keys[key.public] = key
            return key

    def revoke(self, public: str) -> None:
        with self.lock:
            self.keys[public].active = False

    # -- catalogue ---------------------------------------------------------------------------

    def add_product(self, productnumber: str, *, ean: str = "", stock: float = 0, stockenabled: bool = True,
                    stocktype: str = "product", name: str = "") -> Product:
        with self.lock:
            product = Product(id=self._next("product"), productnumber=productnumber, eannumber=ean,
                              name=name or f"Product {productnumber}", stock=stock, stockenabled=stockenabled,
                              stocktype=stocktype)
            self.products[product.id] = product
            return product

    def add_combination(self, product: Product, sku: str, *, ean: str = "", stock: float = 0) -> Combination:
        with self.lock:
            product.stocktype = "attribute"
            combo = Combination(id=self._next("combination"), product_id=product.id,
                                product_number=f"{product.productnumber}-{len(self.combinations_of(product)) + 1}",
                                sku_number=sku, ean_number=ean, stock=stock)
            self.combinations[combo.id] = combo
            return combo

    def combinations_of(self, product: Product) -> list[Combination]:
        return [c for c in self.combinations.values() if c.product_id == product.id]

    # -- orders ------------------------------------------------------------------------------

    def create_order(self, items: list[tuple[Product | Combination, int]], *, status: int = 1,
                     paid: bool = True) -> Order:
        """An order placed in the shop; a combination sells its product with the sub identifiers."""
        with self.lock:
            order = Order(id=self._next("order"), ordernumber=self._next("number"), create_date=self.clock.now(),
                          rows=[], status=status, paid=paid,
                          customer={"email": "klant@example.nl",
                                    "billingaddress": {"first_name": "Jan", "last_name": "Jansen",
                                                       "street": "Dorpsstraat", "housenumber": 12,
                                                       "housenumber_suffix": "a", "zipcode": "1234 AB",
                                                       "city": "Utrecht", "country_code": "nl",
                                                       "telephone": "0301234567", "email": "klant@example.nl"}})
            for item, count in items:
                if isinstance(item, Combination):
                    product = self.products[item.product_id]
                    row = Row(id=self._next("row"), order_id=order.id, product_id=product.id,
                              product_name=product.name, product_number=product.productnumber, count=float(count),
                              price=product.price, sub_product_number=item.product_number,
                              sub_sku_number=item.sku_number, sub_ean_number=item.ean_number)
                else:
                    row = Row(id=self._next("row"), order_id=order.id, product_id=item.id, product_name=item.name,
                              product_number=item.productnumber, count=float(count), price=item.price)
                order.rows.append(row)
                self.rows[row.id] = row
            self.orders[order.id] = order
            return order

    def set_status(self, order: Order, status: int) -> None:
        """A status change made in the back office."""
        with self.lock:
            order.status = status
