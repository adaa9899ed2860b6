"""What a simulated Shopware 6 shop holds: products, orders with their deliveries and
transactions, integrations, admin users and access tokens, on a controllable clock.

Everything the HTTP layer changes goes through methods here, under one lock, so the store's
state is consistent whatever the plugin sends. Timestamps follow Shopware: ``createdAt`` is set
on insert, ``updatedAt`` stays null until the first update (a filter on ``updatedAt`` alone
misses orders nobody touched since they were placed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kade.plugins.shopware.simulator.errors import JSON, ShopwareError
from kade.plugins.shopware.simulator.machines import DELIVERY, ORDER, TRANSACTION, Machine
from kade.sim.base import Faults, RateLimit, RateLimiter, ScriptedFault, ScriptedFaults, SimClock
from kade.sim.faults import FAULT_KINDS

#: tokens live 10 minutes (docs: authentication-authorisation.md)
TOKEN_LIFETIME = 600
LIVE_VERSION = "0fa91ce3e96a4bc2be4bd9ce752c3425"
SHOPWARE_VERSION = "6.6.10.4"


def new_id() -> str:
    return uuid.uuid4().hex


def state_id(machine: Machine, name: str) -> str:
    """Stable ids for state machine states, as a shop's database would have them."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shopware:{machine.technical_name}:{name}").hex


def stamp(when: datetime | None) -> str | None:
    """Shopware's date-time format: milliseconds and an explicit offset."""
    if when is None:
        return None
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass
class Product:
    id: str
    product_number: str
    name: str | None
    stock: int
    created_at: datetime
    ean: str | None = None
    parent_id: str | None = None
    child_count: int = 0
    active: bool = True
    updated_at: datetime | None = None
    tax_id: str = field(default_factory=new_id)
    gross: Decimal = Decimal("19.95")


@dataclass
class LineItem:
    id: str
    product: Product | None
    label: str
    quantity: int
    unit_price: Decimal
    type: str = "product"
    good: bool = True


@dataclass
class Address:
    id: str
    first_name: str
    last_name: str
    street: str
    zipcode: str
    city: str
    country_iso: str = "NL"
    company: str | None = None
    phone: str | None = None
    country_id: str = field(default_factory=new_id)


@dataclass
class Delivery:
    id: str
    address: Address
    state: str = "open"
    tracking_codes: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    shipping_method_id: str = field(default_factory=new_id)
    updated_at: datetime | None = None


@dataclass
class Transaction:
    id: str
    amount: Decimal
    state: str = "paid"
    payment_method_id: str = field(default_factory=new_id)


@dataclass
class Order:
    id: str
    number: str
    order_date_time: datetime
    created_at: datetime
    email: str
    billing: Address
    line_items: list[LineItem]
    deliveries: list[Delivery]
    transactions: list[Transaction]
    state: str = "open"
    currency: str = "EUR"
    updated_at: datetime | None = None
    #: the plugin sends a record the mapping must refuse (conformance: malformed record)
    malformed: dict[str, Any] = field(default_factory=dict)

    @property
    def amount_total(self) -> Decimal:
        return sum((li.unit_price * li.quantity for li in self.line_items), Decimal("0"))


@dataclass
class Integration:
    access_key: str
    secret: str
    label: str
    active: bool = True


@dataclass
class User:
    username: str
    password: str
    active: bool = True


@dataclass
class Token:
    principal: str
    expires_at: float


@dataclass
class WebhookDelivery:
    """An app-system webhook as the shop sends it: raw body plus signature headers."""

    url: str
    headers: dict[str, str]
    body: bytes


class ShopwareState:
    """One shop. ``spec`` (a ``SpecChecker``) makes the app validate every exchange."""

    def __init__(self, *, clock: SimClock | None = None, spec: Any = None) -> None:
        self.clock = clock or SimClock()
        self.lock = threading.RLock()
        self.spec = spec
        self.products: dict[str, Product] = {}
        self.orders: dict[str, Order] = {}
        self.integrations: dict[str, Integration] = {}
        self.users: dict[str, User] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.faults = Faults()
        self.scripted_faults = ScriptedFaults()
        #: the OAuth endpoint's brute-force limiter (rate-limiter.md: 10 requests per 10 s)
        self.limiter = RateLimiter(self.clock, {"oauth": RateLimit(limit=10, window=10.0)})
        #: app registration: webhooks are signed with this shop secret
        self.app_secret: str | None = None
        self.webhook_url = "https://kade.example/webhooks/shopware"
        self.shop_id = "sim" + secrets.token_hex(5)
        self.webhooks: list[WebhookDelivery] = []
        #: every state transition applied, as (entity, id, transition, to)
        self.transitions: list[tuple[str, str, str, str]] = []
        self._numbers = 10000
        self.token_requests = 0
        #: ``expire_tokens`` was called and no request has met an expired token since
        self.expiry_armed = False

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    # ------------------------------------------------------------------ faults

    def inject(self, kind: str, path: str = "/", *, method: str | None = None, status: int = 503, count: int = 1,
               retry_after: float = 1.0, seconds: float = 0.0) -> ScriptedFault:
        """Script a fault for ``kade.sim``'s fault layer: ``error`` (status), ``rate_limit`` (429),
        ``timeout`` (dropped, not applied), ``timeout_after_apply`` (applied, answer dropped), ``slow``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(sorted(FAULT_KINDS))}")
        return self.scripted_faults.add(ScriptedFault(kind=kind, path=path, method=method, status=status,
                                                      count=count, retry_after=retry_after, seconds=seconds))

    # ------------------------------------------------------------------ auth

    def add_integration(self, label: str = "Kade") -> Integration:
        key = "SWIA" + secrets.token_hex(12).upper()
        integration = Integration(access_key=key, secret=secrets.token_urlsafe(32), label=label)
        self.integrations[key] = integration
        return integration

    def add_user(self, username: str = "admin", password: str | None = None) -> User:
        user = User(username=username, password=password or secrets.token_urlsafe(12))
        self.users[username] = user
        return user

    def revoke(self, principal: str) -> None:
        """Delete an integration or deactivate a user; its tokens stop working at once."""
        with self.lock:
            if principal in self.integrations:
                self.integrations[principal].active = False
            if principal in self.users:
                self.users[principal].active = False
            for token, held in list(self.tokens.items()):
                if held.principal in (principal, f"user:{principal}"):
                    del self.tokens[token]

    def issue_token(self, principal: str, *, refresh: bool = False) -> JSON:
        self.token_requests += 1
        token = "sw." + secrets.token_urlsafe(24)
        self.tokens[token] = Token(principal=principal, expires_at=self.clock.now() + TOKEN_LIFETIME)
        body: JSON = {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME, "access_token": token}
        if refresh:
            rt = secrets.token_urlsafe(32)
            self.refresh_tokens[rt] = principal
            body["refresh_token"] = rt
        return body

    def expire_tokens(self) -> None:
        """End the lifetime of every token issued so far (the logins stay valid)."""
        with self.lock:
            now = self.clock.now()
            for held in self.tokens.values():
                held.expires_at = min(held.expires_at, now)
            self.expiry_armed = bool(self.tokens)

    def principal_active(self, principal: str) -> bool:
        if principal.startswith("user:"):
            user = self.users.get(principal[5:])
            return user is not None and user.active
        integration = self.integrations.get(principal)
        return integration is not None and integration.active

    def authenticate(self, authorization: str | None) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ShopwareError(401, "9", "The resource owner or authorization server denied the request.",
                                meta={"parameters": [], "hint": "Missing \"Authorization\" header"})
        held = self.tokens.get(authorization[7:].strip())
        if held is None or not self.principal_active(held.principal):
            raise ShopwareError(401, "9", "The resource owner or authorization server denied the request.",
                                meta={"parameters": [], "hint": "Access token could not be verified"})
        if held.expires_at <= self.clock.now():
            self.expiry_armed = False  # the armed expiry did what it was for
            raise ShopwareError(401, "9", "The resource owner or authorization server denied the request.",
                                meta={"parameters": [], "hint": "Access token is invalid"})
        return held.principal

    # ------------------------------------------------------------------ catalogue and orders

    def add_product(self, product_number: str, *, stock: int = 0, name: str | None = None, ean: str | None = None,
                    parent: Product | None = None) -> Product:
        with self.lock:
            if any(p.product_number == product_number for p in self.products.values()):
                raise ValueError(f"product number {product_number} exists")
            product = Product(id=new_id(), product_number=product_number,
                              name=name if parent is not None else (name or f"Product {product_number}"),
                              stock=stock, ean=ean, created_at=self.now(),
                              parent_id=parent.id if parent else None)
            if parent is not None:
                parent.child_count += 1
            self.products[product.id] = product
            return product

    def place_order(self, items: list[tuple[Product, int]], *, email: str = "jan@example.nl",
                    currency: str = "EUR") -> Order:
        """An order as checkout creates it: stock taken at once (the 6.5 stock API), one delivery."""
        with self.lock:
            self._numbers += 1
            address = Address(id=new_id(), first_name="Jan", last_name="Jansen", street="Damrak 1",
                              zipcode="1012 LG", city="Amsterdam")
            lines = [LineItem(id=new_id(), product=p, label=p.name or p.product_number, quantity=q,
                              unit_price=p.gross) for p, q in items]
            order = Order(id=new_id(), number=str(self._numbers), order_date_time=self.now(), created_at=self.now(),
                          email=email, billing=address, line_items=lines,
                          deliveries=[Delivery(id=new_id(), address=address)], transactions=[], currency=currency)
            order.transactions.append(Transaction(id=new_id(), amount=order.amount_total))
            for product, quantity in items:
                product.stock -= quantity
            self.orders[order.id] = order
            self.emit("checkout.order.placed", "order", order.id)
            return order

    def delivery(self, delivery_id: str) -> tuple[Order, Delivery]:
        for order in self.orders.values():
            for delivery in order.deliveries:
                if delivery.id == delivery_id:
                    return order, delivery
        raise ShopwareError(404, "FRAMEWORK__ENTITY_NOT_FOUND",
                            f'Could not find entity "order_delivery" with id "{delivery_id}".')

    def order(self, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None:
            raise ShopwareError(404, "FRAMEWORK__ENTITY_NOT_FOUND",
                                f'Could not find entity "order" with id "{order_id}".')
        return order

    def transition_order(self, order_id: str, transition: str) -> tuple[Machine, str]:
        with self.lock:
            order = self.order(order_id)
            target = ORDER.apply(order.state, transition, state_id(ORDER, order.state))
            order.state = target
            order.updated_at = self.now()
            if target == "cancelled":
                for line in order.line_items:  # the stock API gives cancelled quantities back
                    if line.product is not None:
                        line.product.stock += line.quantity
            self.transitions.append(("order", order_id, transition, target))
            self.emit(f"state_enter.order.state.{target}", "order", order_id)
            return ORDER, target

    def transition_delivery(self, delivery_id: str, transition: str) -> tuple[Machine, str]:
        with self.lock:
            order, delivery = self.delivery(delivery_id)
            target = DELIVERY.apply(delivery.state, transition, state_id(DELIVERY, delivery.state))
            delivery.state = target
            delivery.updated_at = order.updated_at = self.now()
            self.transitions.append(("order_delivery", delivery_id, transition, target))
            self.emit(f"state_enter.order_delivery.state.{target}", "order_delivery", delivery_id)
            return DELIVERY, target

    # ------------------------------------------------------------------ webhooks

    def register_app(self, secret: str | None = None) -> str:
        self.app_secret = secret or secrets.token_hex(32)
        return self.app_secret

    def emit(self, event: str, entity: str, primary_key: str) -> None:
        """Record a signed delivery when an app is registered."""
        if self.app_secret is not None:
            self.webhooks.append(self.signed_delivery(event, entity, primary_key))

    def signed_delivery(self, event: str, entity: str, primary_key: str) -> WebhookDelivery:
        """An app-system delivery: entity events list the written rows, business events carry the
        order; ``shopware-shop-signature`` is the hex HMAC-SHA256 of the raw body with the shop secret."""
        if self.app_secret is None:
            raise RuntimeError("no app is registered with this shop (register_app)")
        payload: Any
        if event.endswith(".written"):
            payload = [{"entity": entity, "operation": "update", "primaryKey": primary_key, "updatedFields": []}]
        else:
            order_id = self.delivery(primary_key)[0].id if entity == "order_delivery" else primary_key
            payload = {"order": {"id": order_id}}
        body = json.dumps({
            "data": {"payload": payload, "event": event},
            "source": {"url": "http://shop.sim", "appVersion": "1.0.0", "shopId": self.shop_id,
                       "eventId": new_id()},
            "timestamp": int(self.clock.now()),
        }).encode()
        signature = hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        return WebhookDelivery(url=self.webhook_url, body=body, headers={
            "content-type": "application/json", "shopware-shop-signature": signature,
            "sw-version": SHOPWARE_VERSION})


MACHINE_OF = {"order": ORDER, "order_delivery": DELIVERY, "order_transaction": TRANSACTION}
