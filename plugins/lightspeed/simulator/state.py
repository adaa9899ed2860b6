"""The store behind the simulated Lightspeed eCom API: shops, keys, orders, variants, shipments.

One ``LightspeedState`` holds any number of shops on the two clusters. A shop is reached with
its own API key (key:secret) or through an installed app (app key : md5(token + app secret)).
Shipments are created by the shop itself, one per order, ``not_shipped`` until someone marks
them shipped; the order follows (``shipmentStatus`` and ``status``).
"""

from __future__ import annotations

import hashlib
import secrets
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from kade.plugins.lightspeed.simulator.ratelimit import DEFAULT_LIMITS, WindowLimiter
from kade.sim.base import Faults, ScriptedFault, ScriptedFaults, SimClock

#: cluster name → API host
CLUSTERS = {"eu1": "api.webshopapp.com", "us1": "api.shoplightspeed.com"}
STOCK_TRACKING = ("enabled", "disabled", "indicator")
ORDER_STATUSES = (
    "on_hold", "processing_awaiting_payment", "processing_awaiting_shipment", "processing_awaiting_pickup",
    "processing_ready_for_pickup", "completed", "completed_shipped", "completed_picked_up", "cancelled",
)
PAYMENT_STATUSES = ("not_paid", "partially_paid", "paid", "cancelled")
SHIPMENT_STATUSES = ("not_shipped", "partially_shipped", "shipped", "cancelled")
WEBHOOK_GROUPS = ("customers", "orders", "invoices", "shipments", "products", "variants", "quotes", "reviews",
                  "returns", "subscriptions")
WEBHOOK_ACTIONS = ("created", "updated", "deleted", "paid", "shipped", "answered", "*")


def _token(n: int = 32) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def app_password(token: str, app_secret: str) -> str:
    """What an app sends as the Basic password for one shop: ``md5(token + app secret)``."""
    return hashlib.md5((token + app_secret).encode(), usedforsecurity=False).hexdigest()


@dataclass
class ApiKey:
    key: str
    secret: str
    shop_id: int
    active: bool = True


@dataclass
class App:
    key: str
    secret: str
    #: shop id → install token
    installs: dict[int, str] = field(default_factory=dict)


@dataclass
class Variant:
    id: int
    shop_id: int
    product_id: int
    #: language → product title
    titles: dict[str, str]
    variant_title: str
    sku: str = ""
    ean: str = ""
    article_code: str = ""
    price: Decimal = Decimal("9.95")
    stock_tracking: str = "enabled"
    stock_level: int = 0
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class OrderProduct:
    id: int
    variant_id: int
    product_id: int
    title: str
    variant_title: str
    quantity: int
    sku: str
    ean: str
    article_code: str
    price: Decimal
    quantity_shipped: int = 0
    #: fields a test forced into the rendered line (malformed records)
    patch: dict[str, Any] = field(default_factory=dict)


@dataclass
class Shipment:
    id: int
    number: str
    order_id: int
    #: order product id → quantity
    products: dict[int, int]
    status: str = "not_shipped"
    tracking_code: str = ""
    tracking_url: str = ""
    carrier: str = ""
    do_notify_shipped: bool = False
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Order:
    id: int
    number: str
    shop_id: int
    language: str
    created_at: datetime
    updated_at: datetime
    products: list[OrderProduct]
    status: str = "processing_awaiting_shipment"
    payment_status: str = "paid"
    shipment_status: str = "not_shipped"
    email: str = "klant@example.nl"
    firstname: str = "Anna"
    lastname: str = "de Vries"
    memo: str = ""
    #: fields a test forced into the rendered order (malformed records)
    patch: dict[str, Any] = field(default_factory=dict)


@dataclass
class Webhook:
    id: int
    shop_id: int
    item_group: str
    item_action: str
    language: str
    address: str
    #: the secret of the login that created the webhook (its deliveries are signed with it)
    secret: str = ""
    format: str = "json"
    is_active: bool = True


@dataclass
class Delivery:
    """A webhook POST the shop would have sent (kept for tests: no socket in-process)."""

    webhook_id: int
    address: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Shop:
    id: int
    cluster: str
    languages: tuple[str, ...]
    currency: str = "EUR"


class LightspeedState:
    """All shops and their data; every mutation holds ``lock``."""

    def __init__(self, *, clock: SimClock | None = None, limits: tuple[int, int, int] = DEFAULT_LIMITS,
                 faults: Faults | None = None, page_default: int = 50) -> None:
        self.clock = clock or SimClock()
        self.limiter = WindowLimiter(self.clock, limits)
        self.faults = faults or Faults()
        self.scripted_faults = ScriptedFaults()
        self.lock = threading.RLock()
        self.page_default = page_default
        self.shops: dict[int, Shop] = {}
        self.keys: dict[str, ApiKey] = {}
        self.apps: dict[str, App] = {}
        self.orders: dict[int, Order] = {}
        self.variants: dict[int, Variant] = {}
        self.shipments: dict[int, Shipment] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.deliveries: list[Delivery] = []
        #: every request the app served, as (method, path): tests assert on calls made
        self.requests: list[tuple[str, str]] = []
        self._ids: dict[str, int] = {}

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._ids[kind] = self._ids.get(kind, {"order": 1000, "variant": 5000}.get(kind, 0)) + 1
            return self._ids[kind]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def inject(self, kind: Literal["error", "rate_limit", "timeout", "timeout_after_apply"], path: str = "/", *,
               method: str | None = None, status: int = 500, retry_after: float = 1.0, count: int = 1) -> ScriptedFault:
        """The next ``count`` matching requests fail: an error status, a 429, an answer dropped
        before (``timeout``) or after (``timeout_after_apply``) the request was applied."""
        return self.scripted_faults.add(ScriptedFault(kind, path, method, status, count=count,
                                                      retry_after=retry_after))

    # ------------------------------------------------------------------ shops and credentials

    def add_shop(self, *, cluster: str = "eu1", languages: tuple[str, ...] = ("nl", "en")) -> Shop:
        if cluster not in CLUSTERS:
            raise ValueError(f"unknown cluster {cluster!r}")
        shop = Shop(id=self.next_id("shop") + 100_000, cluster=cluster, languages=languages)
        self.shops[shop.id] = shop
        return shop

    def create_api_key(self, shop: Shop) -> ApiKey:
        key = ApiKey(key=_token(), secret=_token(), shop_id=shop.id)
        self.keys[key.key] = key
        return key

    def revoke_api_key(self, key: str) -> None:
        self.keys[key].active = False

    def register_app(self) -> App:
        app = App(key=_token(), secret=_token())
        self.apps[app.key] = app
        return app

    def install_app(self, app: App, shop: Shop) -> str:
        """The shop owner installs the app; the token the install callback carries."""
        token = _token()
        app.installs[shop.id] = token
        return token

    def uninstall_app(self, app: App, shop: Shop) -> None:
        app.installs.pop(shop.id, None)

    def authenticate(self, user: str, password: str) -> tuple[int, str] | None:
        """(shop id, budget key) for a Basic login, or None."""
        key = self.keys.get(user)
        if key is not None:
            if key.active and secrets.compare_digest(key.secret, password):
                return key.shop_id, f"key:{key.key}"
            return None
        app = self.apps.get(user)
        if app is not None:
            for shop_id, token in app.installs.items():
                if secrets.compare_digest(app_password(token, app.secret), password):
                    return shop_id, f"app:{app.key}:{shop_id}"
        return None

    def secret_for(self, budget_key: str) -> str:
        """The secret of the login behind a request: webhooks it creates are signed with it."""
        kind, _, rest = budget_key.partition(":")
        if kind == "key":
            return self.keys[rest].secret
        return self.apps[rest.split(":")[0]].secret

    # ------------------------------------------------------------------ catalogue

    def add_variant(self, shop: Shop, *, sku: str = "", ean: str = "", article_code: str = "", stock: int = 0,
                    stock_tracking: str = "enabled", title: str | None = None, product_id: int | None = None,
                    variant_title: str = "Default") -> Variant:
        if stock_tracking not in STOCK_TRACKING:
            raise ValueError(f"unknown stockTracking {stock_tracking!r}")
        vid = self.next_id("variant")
        pid = product_id or self.next_id("product") + 9000
        name = title or f"Product {sku or vid}"
        titles = {lang: f"{name} ({lang})" if lang != shop.languages[0] else name for lang in shop.languages}
        variant = Variant(id=vid, shop_id=shop.id, product_id=pid, titles=titles, variant_title=variant_title,
                          sku=sku, ean=ean,
                          article_code=article_code, stock_tracking=stock_tracking, stock_level=stock,
                          updated_at=self.now())
        self.variants[vid] = variant
        return variant

    def shop_variants(self, shop_id: int) -> list[Variant]:
        return [v for v in self.variants.values() if v.shop_id == shop_id]

    # ------------------------------------------------------------------ orders

    def create_order(self, shop: Shop, items: list[tuple[Variant, int]], *, language: str | None = None,
                     payment_status: str = "paid") -> Order:
        """A checkout: the order, its products, and the one shipment the shop prepares for it."""
        with self.lock:
            oid = self.next_id("order")
            now = self.now()
            lang = language or shop.languages[0]
            products = [
                OrderProduct(id=self.next_id("order_product") + 70_000, variant_id=v.id, product_id=v.product_id,
                             title=v.titles.get(lang, v.titles[shop.languages[0]]), variant_title=v.variant_title,
                             quantity=qty, sku=v.sku, ean=v.ean, article_code=v.article_code, price=v.price)
                for v, qty in items
            ]
            order = Order(id=oid, number=f"ORD{oid:05d}", shop_id=shop.id, language=lang, created_at=now,
                          updated_at=now, products=products, payment_status=payment_status,
                          status="processing_awaiting_shipment" if payment_status == "paid"
                          else "processing_awaiting_payment")
            self.orders[oid] = order
            sid = self.next_id("shipment")
            self.shipments[sid] = Shipment(id=sid, number=f"SHIP{sid:05d}", order_id=oid,
                                           products={p.id: p.quantity for p in products}, updated_at=now)
            self.emit(shop.id, "orders", "created", order)
            return order

    def touch(self, order: Order) -> None:
        order.updated_at = self.now()

    def cancel_order(self, order: Order) -> None:
        with self.lock:
            order.status = "cancelled"
            order.payment_status = "cancelled" if order.payment_status != "paid" else order.payment_status
            order.shipment_status = "cancelled"
            for shipment in self.order_shipments(order.id):
                shipment.status = "cancelled"
            self.touch(order)
            self.emit(order.shop_id, "orders", "updated", order)

    def order_shipments(self, order_id: int) -> list[Shipment]:
        return sorted((s for s in self.shipments.values() if s.order_id == order_id), key=lambda s: s.id)

    def mark_shipped(self, shipment: Shipment) -> None:
        """A shipment reaches ``shipped``: its products count as shipped, the order follows."""
        order = self.orders[shipment.order_id]
        shipment.status = "shipped"
        shipment.updated_at = self.now()
        for product in order.products:
            if product.id in shipment.products:
                product.quantity_shipped = min(product.quantity,
                                               product.quantity_shipped + shipment.products[product.id])
        self.sync_order_shipment(order)

    def sync_order_shipment(self, order: Order) -> None:
        if order.status == "cancelled":
            return
        shipments = self.order_shipments(order.id)
        shipped = [s for s in shipments if s.status == "shipped"]
        if shipments and len(shipped) == len(shipments):
            order.shipment_status = "shipped"
            order.status = "completed_shipped"
        elif shipped:
            order.shipment_status = "partially_shipped"
        self.touch(order)
        self.emit(order.shop_id, "orders", "updated", order)

    # ------------------------------------------------------------------ webhooks

    def emit(self, shop_id: int, group: str, action: str, item: Order | Variant) -> None:
        """Queue a delivery for every active webhook of the shop matching the event."""
        from kade.plugins.lightspeed.simulator.render import render_order, render_variant
        from kade.plugins.lightspeed.simulator.webhooks import signed_delivery

        for hook in self.webhooks.values():
            if hook.shop_id != shop_id or not hook.is_active or hook.item_group != group:
                continue
            if hook.item_action not in ("*", action):
                continue
            if isinstance(item, Order):
                payload: dict[str, Any] = {"order": render_order(self, item, hook.language)}
            else:
                payload = {"variant": render_variant(self, item, hook.language)}
            self.deliveries.append(signed_delivery(hook, payload, hook.secret, group, action,
                                                   item.id))
