"""What a simulated Magento installation holds, and the business rules it applies.

The rules that matter to an integration, as Magento's own code applies them:

* an order's state follows ``Sales\\Model\\Order\\StateResolver``: after a shipment or an invoice
  it is ``complete`` only when nothing is left to ship *and* nothing is left to invoice,
  otherwise ``processing`` — so a fully shipped order that was never invoiced stays
  ``processing``;
* a configurable product sells as two order items, the parent (``product_type`` configurable,
  ``sku`` = the chosen simple's SKU) and the child (``parent_item_id``); shipments name the
  parent, and shipping the child alone is refused;
* ``/V1/order/{id}/ship`` checks the quantity left to ship per item, so it never ships twice;
* with MSI, placing an order adds a negative *reservation* (salable quantity drops, the source
  quantity does not); the shipment deducts the source and compensates the reservation.
  Without MSI (legacy CatalogInventory) the quantity drops when the order is placed.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kade.sim.base import Faults, ScriptedFault, ScriptedFaults, SimClock


class MagentoError(Exception):
    """An ``error-response`` on its way out: ``message`` with ``%1``/``%name`` placeholders."""

    def __init__(self, status: int, message: str, parameters: list[str] | dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameters = status, message, parameters

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.parameters is not None:
            body["parameters"] = self.parameters
        return body


NOT_FOUND = "The entity that was requested doesn't exist. Verify the entity and try again."
SHIP_ERRORS = "Shipment Document Validation Error(s):\n"


@dataclass
class Integration:
    """System > Integrations: the four credentials activation yields."""

    name: str
    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    active: bool = True
    #: nonce → timestamp it came with (Magento keeps them per consumer)
    nonces: dict[str, int] = field(default_factory=dict)


@dataclass
class Product:
    id: int
    sku: str
    name: str
    price: Decimal
    type_id: str = "simple"
    ean: str | None = None
    #: legacy CatalogInventory stock item
    qty: Decimal = Decimal("0")
    is_in_stock: bool = True
    manage_stock: bool = True
    #: configurable parents: their simple children's ids
    children: list[int] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def stock_item_id(self) -> int:
        return self.id


@dataclass
class SourceItem:
    sku: str
    source_code: str
    quantity: Decimal
    status: int = 1


@dataclass
class Item:
    item_id: int
    order_id: int
    product_id: int
    sku: str
    name: str
    product_type: str
    qty_ordered: Decimal
    price: Decimal
    parent_item_id: int | None = None
    qty_shipped: Decimal = Decimal("0")
    qty_canceled: Decimal = Decimal("0")
    qty_invoiced: Decimal = Decimal("0")
    qty_refunded: Decimal = Decimal("0")

    @property
    def to_ship(self) -> Decimal:
        return self.qty_ordered - self.qty_shipped - self.qty_canceled - self.qty_refunded

    @property
    def to_invoice(self) -> Decimal:
        return self.qty_ordered - self.qty_invoiced - self.qty_canceled


@dataclass
class Track:
    entity_id: int
    order_id: int
    parent_id: int
    track_number: str
    title: str
    carrier_code: str
    created: datetime


@dataclass
class Shipment:
    entity_id: int
    increment_id: str
    order_id: int
    #: (order item id, qty, sku, name)
    items: list[tuple[int, Decimal, str, str]]
    tracks: list[Track]
    comments: list[str]
    source_code: str | None
    created: datetime


@dataclass
class Invoice:
    entity_id: int
    increment_id: str
    order_id: int
    items: list[tuple[int, Decimal, str]]
    grand_total: Decimal
    created: datetime


@dataclass
class Order:
    entity_id: int
    increment_id: str
    state: str
    status: str
    created: datetime
    updated: datetime
    email: str
    firstname: str
    lastname: str
    currency: str
    items: list[Item]
    address: dict[str, Any]
    shipping_amount: Decimal = Decimal("4.95")
    store_id: int = 1
    #: fields replaced (or removed, with value ``...``) at render time: malformed-data tests
    patch: dict[str, Any] = field(default_factory=dict)

    @property
    def grand_total(self) -> Decimal:
        return sum((i.price * i.qty_ordered for i in self.items if i.parent_item_id is None), Decimal("0")) + (
            self.shipping_amount
        )

    def shippable(self) -> list[Item]:
        """Items a shipment names: parents and plain simples, never a configurable's child."""
        parents = {i.item_id: i for i in self.items}
        return [i for i in self.items
                if i.parent_item_id is None or parents[i.parent_item_id].product_type != "configurable"]

    def can_ship(self) -> bool:
        return self.state not in ("canceled", "holded", "closed", "complete") and any(
            i.to_ship > 0 for i in self.shippable() if i.product_type != "virtual")

    def can_invoice(self) -> bool:
        return self.state not in ("canceled", "holded", "closed") and any(i.to_invoice > 0 for i in self.shippable())


@dataclass
class StoreView:
    id: int
    code: str


class MagentoState:
    """One Magento installation: store views, integrations, catalogue, orders, inventory."""

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        msi: bool = True,
        bearer_enabled: bool = False,
        sources: tuple[str, ...] = ("default",),
        max_page_size: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.lock = threading.RLock()
        #: the Magento_Inventory* modules are enabled (2.3+ default; merchants disable them)
        self.msi = msi
        #: ``oauth/consumer/enable_integration_as_bearer`` (off by default since 2.4.4)
        self.bearer_enabled = bearer_enabled
        #: Web API input limiting (``webapi/validation/input_limit_enabled``): max pageSize
        self.max_page_size = max_page_size
        self.stores = [StoreView(1, "default")]
        self.sources = list(sources)
        self.integrations: dict[str, Integration] = {}
        self.products: dict[int, Product] = {}
        self.source_items: dict[tuple[str, str], SourceItem] = {}
        #: (sku, quantity) — negative when an order reserves, positive when compensated
        self.reservations: list[tuple[str, Decimal]] = []
        self.orders: dict[int, Order] = {}
        self.shipments: dict[int, Shipment] = {}
        self.invoices: dict[int, Invoice] = {}
        self.faults = faults or Faults()
        self.scripted_faults = ScriptedFaults()
        self._ids: dict[str, int] = {}

    # helpers ---------------------------------------------------------------------------

    def next_id(self, kind: str) -> int:
        with self.lock:
            self._ids[kind] = self._ids.get(kind, 0) + 1
            return self._ids[kind]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC).replace(microsecond=0)

    def inject(self, kind: str, path: str = "/", *, method: str | None = None, status: int = 503,
               count: int = 1, seconds: float = 0.0, retry_after: float = 1.0) -> ScriptedFault:
        """Script a fault for the next matching requests (``path`` is a regex on ``/rest/...``)."""
        return self.scripted_faults.add(ScriptedFault(kind=kind, path=path, method=method, status=status,
                                                      count=count, seconds=seconds, retry_after=retry_after))

    def store(self, code: str) -> StoreView | None:
        return next((s for s in self.stores if s.code == code), None)

    # integrations ----------------------------------------------------------------------

    def create_integration(self, name: str = "Kade") -> Integration:
        """Add and activate an integration (32-character credentials, as Magento issues them)."""
        with self.lock:
            key, secret, token, token_secret = (secrets.token_hex(16) for _ in range(4))
            integration = Integration(name, key, secret, token, token_secret)
            self.integrations[integration.consumer_key] = integration
            return integration

    def revoke(self, integration: Integration) -> None:
        with self.lock:
            integration.active = False

    def by_token(self, token: str) -> Integration | None:
        return next((i for i in self.integrations.values() if i.access_token == token), None)

    # catalogue and inventory -----------------------------------------------------------

    def add_product(self, sku: str, *, name: str = "", price: str = "19.95", stock: int = 0, ean: str | None = None,
                    manage_stock: bool = True) -> Product:
        with self.lock:
            product = Product(self.next_id("product"), sku, name or f"Product {sku}", Decimal(price), ean=ean,
                              qty=Decimal(stock), is_in_stock=stock > 0, manage_stock=manage_stock,
                              created=self.now())
            self.products[product.id] = product
            if self.msi:
                self.source_items[(sku, self.sources[0])] = SourceItem(sku, self.sources[0], Decimal(stock),
                                                                       1 if stock > 0 else 0)
            return product

    def add_configurable(self, sku: str, children: list[Product], *, name: str = "") -> Product:
        with self.lock:
            parent = Product(self.next_id("product"), sku, name or f"Configurable {sku}", children[0].price,
                             type_id="configurable", manage_stock=False, children=[c.id for c in children],
                             created=self.now())
            self.products[parent.id] = parent
            return parent

    def product_by_sku(self, sku: str) -> Product | None:
        return next((p for p in self.products.values() if p.sku == sku), None)

    def salable(self, sku: str) -> Decimal:
        """What the storefront may still sell: source quantity plus (negative) reservations."""
        with self.lock:
            on_hand = sum((s.quantity for (k, _), s in self.source_items.items() if k == sku), Decimal("0"))
            return on_hand + sum((q for k, q in self.reservations if k == sku), Decimal("0"))

    def set_source_item(self, sku: str, source_code: str, quantity: Decimal, status: int) -> None:
        if source_code not in self.sources:
            raise MagentoError(400, 'Source with code "%value" does not exist.', {"value": source_code})
        if self.product_by_sku(sku) is None:
            raise MagentoError(400, "Could not save Source Item")
        self.source_items[(sku, source_code)] = SourceItem(sku, source_code, quantity, status)

    # orders ----------------------------------------------------------------------------

    def place_order(self, lines: list[tuple[Product, int]], *, state: str = "processing",
                    invoice: bool = True, email: str = "anna@example.com",
                    child_of: dict[int, Product] | None = None) -> Order:
        """Place an order as the storefront does; ``child_of`` maps a simple's id to the configurable
        it was chosen through (the order then carries parent and child items)."""
        with self.lock:
            now = self.now()
            entity_id = self.next_id("order")
            items: list[Item] = []
            for product, qty in lines:
                parent = (child_of or {}).get(product.id)
                if parent is not None:
                    top = Item(self.next_id("item"), entity_id, parent.id, product.sku, parent.name, "configurable",
                               Decimal(qty), product.price)
                    items += [top, Item(self.next_id("item"), entity_id, product.id, product.sku, product.name,
                                        "simple", Decimal(qty), Decimal("0"), parent_item_id=top.item_id)]
                else:
                    items.append(Item(self.next_id("item"), entity_id, product.id, product.sku, product.name,
                                      product.type_id, Decimal(qty), product.price))
                if self.msi:
                    self.reservations.append((product.sku, -Decimal(qty)))
                elif product.manage_stock:
                    product.qty -= Decimal(qty)
            address = {"firstname": "Anna", "lastname": "de Vries", "street": ["Kerkstraat 12"], "city": "Utrecht",
                       "postcode": "3511 CD", "country_id": "NL", "telephone": "0612345678", "email": email}
            order = Order(entity_id, f"{100000000 + entity_id:09d}", "new", "pending", now, now, email, "Anna",
                          "de Vries", "EUR", items, address)
            self.orders[entity_id] = order
            if invoice:
                self.invoice(order)
            if state == "processing" and order.state == "new":
                order.state, order.status = "processing", "processing"
            elif state not in ("processing", "new"):
                order.state, order.status = state, state
            return order

    def touch(self, order: Order) -> None:
        order.updated = max(self.now(), order.updated)

    def resolve_state(self, order: Order) -> None:
        """``StateResolver``: complete only when nothing is left to ship or to invoice."""
        if order.state in ("canceled", "holded", "closed"):
            return
        if not order.can_ship() and not order.can_invoice():
            order.state, order.status = "complete", "complete"
        else:
            order.state, order.status = "processing", "processing"

    def invoice(self, order: Order) -> Invoice:
        with self.lock:
            if not order.can_invoice():
                raise MagentoError(400, "The order does not allow an invoice to be created.")
            items = [(i.item_id, i.to_invoice, i.sku) for i in order.shippable() if i.to_invoice > 0]
            for item in order.items:
                item.qty_invoiced += item.to_invoice
            entity_id = self.next_id("invoice")
            invoice = Invoice(entity_id, f"{100000000 + entity_id:09d}", order.entity_id, items, order.grand_total,
                              self.now())
            self.invoices[entity_id] = invoice
            if order.state != "new" or self.shipments_of(order):
                self.resolve_state(order)
            self.touch(order)
            return invoice

    def shipments_of(self, order: Order) -> list[Shipment]:
        return [s for s in self.shipments.values() if s.order_id == order.entity_id]

    def ship(self, order: Order, wanted: list[tuple[int, Decimal]], tracks: list[dict[str, Any]],
             comment: str | None, source_code: str | None) -> Shipment:
        """``ShipOrder::execute``: validate everything first, then write; nothing half-done."""
        with self.lock:
            if not order.can_ship():
                raise MagentoError(400, SHIP_ERRORS + "The order does not allow a shipment to be created.")
            items = {i.item_id: i for i in order.items}
            allowed = {i.item_id for i in order.shippable()}
            if not wanted:
                wanted = [(i.item_id, i.to_ship) for i in order.shippable() if i.to_ship > 0]
            chosen: list[tuple[Item, Decimal]] = []
            for item_id, qty in wanted:
                item = items.get(item_id)
                if item is None or item_id not in allowed or qty <= 0:
                    continue  # Magento drops unknown, child and zero lines before validating
                if qty > item.to_ship:
                    raise MagentoError(
                        400, SHIP_ERRORS + 'The quantity to ship must not be greater than the unshipped quantity '
                        'for product SKU "%1".', [item.sku])
                chosen.append((item, qty))
            if not chosen:
                raise MagentoError(400, SHIP_ERRORS + "You can't create a shipment without products.")
            if self.msi:
                source = source_code or (self.sources[0] if len(self.sources) == 1 else None)
                if source is None:
                    raise MagentoError(400, "Not all of your products are available in the requested quantity.")
                if source not in self.sources:
                    raise MagentoError(400, 'Source with code "%value" does not exist.', {"value": source})
            for track in tracks:
                if not str(track.get("track_number") or "").strip():
                    raise MagentoError(400, SHIP_ERRORS + "Please enter a tracking number.")
            now = self.now()
            entity_id = self.next_id("shipment")
            shipment = Shipment(entity_id, f"{100000000 + entity_id:09d}", order.entity_id,
                                [(i.item_id, q, i.sku, i.name) for i, q in chosen], [], [comment] if comment else [],
                                source_code, now)
            for item, qty in chosen:
                item.qty_shipped += qty
                for child in order.items:
                    if child.parent_item_id == item.item_id:
                        child.qty_shipped += qty
                if self.msi:
                    sku_item = self._source_item(item.sku, source_code or self.sources[0])
                    sku_item.quantity -= qty
                    self.reservations.append((item.sku, qty))
            for track in tracks:
                shipment.tracks.append(Track(self.next_id("track"), order.entity_id, entity_id,
                                             str(track["track_number"]), str(track["title"]),
                                             str(track["carrier_code"]), now))
            self.shipments[entity_id] = shipment
            self.resolve_state(order)
            self.touch(order)
            return shipment

    def _source_item(self, sku: str, source_code: str) -> SourceItem:
        found = self.source_items.get((sku, source_code))
        if found is None:
            found = self.source_items[(sku, source_code)] = SourceItem(sku, source_code, Decimal("0"), 0)
        return found

    def cancel(self, order: Order) -> bool:
        """``OrderService::cancel``: False when the order cannot be cancelled any more."""
        with self.lock:
            if order.state in ("canceled", "complete", "closed", "holded", "payment_review"):
                return False
            open_qty = {i.item_id: i.qty_ordered - max(i.qty_shipped, i.qty_invoiced) - i.qty_canceled
                        for i in order.items}
            if not any(q > 0 for q in open_qty.values()):
                return False
            for item in order.items:
                qty = open_qty[item.item_id]
                if qty <= 0:
                    continue
                item.qty_canceled += qty
                if self.msi and item.parent_item_id is None:
                    self.reservations.append((item.sku, qty))
                elif not self.msi and item.parent_item_id is None:
                    product = self.products.get(item.product_id)
                    if product is not None and product.manage_stock:
                        product.qty += qty
            if any(i.qty_shipped > 0 or i.qty_invoiced > 0 for i in order.items):
                self.resolve_state(order)
            else:
                order.state, order.status = "canceled", "canceled"
            self.touch(order)
            return True

    def refund(self, order: Order) -> None:
        """A credit memo for everything not shipped (how a paid order is cancelled): ``closed``
        when nothing was shipped."""
        with self.lock:
            for item in order.items:
                left = item.qty_invoiced - item.qty_refunded - item.qty_shipped
                if left > 0:
                    item.qty_refunded += left
                    if self.msi and item.parent_item_id is None:
                        self.reservations.append((item.sku, left))
            if all(i.to_ship <= 0 for i in order.items):
                order.state, order.status = "closed", "closed"
            self.touch(order)

    def malform(self, order: Order, **patch: Any) -> None:
        """Make an order render broken (a missing or mistyped field), as a bad extension would."""
        with self.lock:
            order.patch.update(patch)
            self.touch(order)
