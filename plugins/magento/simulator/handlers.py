"""One function per served operation (keyed by the spec's ``operationId``).

Each takes the installation and the parsed request and returns ``(status, body)``, or raises
``MagentoError`` with Magento's message and parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from kade.plugins.magento.simulator import render, search
from kade.plugins.magento.simulator.state import NOT_FOUND, MagentoError, MagentoState, Order, Product

if TYPE_CHECKING:
    from kade.plugins.magento.simulator.app import Request

Result = tuple[int, Any]
Handler = Callable[[MagentoState, "Request"], Result]

ORDER_FIELDS: dict[str, Callable[[Order], Any]] = {
    "entity_id": lambda o: o.entity_id, "increment_id": lambda o: o.increment_id, "state": lambda o: o.state,
    "status": lambda o: o.status, "created_at": lambda o: render.when(o.created),
    "updated_at": lambda o: render.when(o.updated), "store_id": lambda o: o.store_id,
    "customer_email": lambda o: o.email, "grand_total": lambda o: o.grand_total,
}
PRODUCT_FIELDS: dict[str, Callable[[Product], Any]] = {
    "entity_id": lambda p: p.id, "sku": lambda p: p.sku, "type_id": lambda p: p.type_id, "name": lambda p: p.name,
    "created_at": lambda p: render.when(p.created), "updated_at": lambda p: render.when(p.created),
}


def _criteria(sim: MagentoState, request: Request) -> search.Criteria:
    if not any(k.startswith("searchCriteria") for k, _ in request.query):
        raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"})
    return search.parse(request.query, max_page_size=sim.max_page_size)


def _listing(rows: list[Any], criteria: search.Criteria, fields: dict[str, Callable[[Any], Any]],
             draw: Callable[[Any], Any]) -> Result:
    page = search.search(rows, criteria, fields)
    return 200, {"items": [draw(r) for r in page.items], "search_criteria": criteria.echo(),
                 "total_count": page.total_count}


def _order(sim: MagentoState, value: str) -> Order:
    order = sim.orders.get(int(value))
    if order is None:
        raise MagentoError(404, NOT_FOUND)
    return order


def _product(sim: MagentoState, sku: str) -> Product:
    product = sim.product_by_sku(sku)
    if product is None:
        raise MagentoError(404, "The product that was requested doesn't exist. Verify the product and try again.")
    return product


def _qty(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise MagentoError(400, 'The "%1" value\'s type is invalid. The "float" type was expected. Verify and try '
                                'again.', [str(value)]) from None


def _draw_order(request: Request) -> Callable[[Order], Any]:
    def draw(order: Order) -> Any:
        request.off_spec = request.off_spec or bool(order.patch)
        return render.order(order)

    return draw


def list_orders(sim: MagentoState, request: Request) -> Result:
    return _listing(sorted(sim.orders.values(), key=lambda o: o.entity_id), _criteria(sim, request), ORDER_FIELDS,
                    _draw_order(request))


def get_order(sim: MagentoState, request: Request) -> Result:
    return 200, _draw_order(request)(_order(sim, request.params["id"]))


def cancel_order(sim: MagentoState, request: Request) -> Result:
    return 200, sim.cancel(_order(sim, request.params["id"]))


def ship(sim: MagentoState, request: Request) -> Result:
    order = _order(sim, request.params["orderId"])
    body = request.body or {}
    wanted = [(int(i["order_item_id"]), _qty(i["qty"])) for i in body.get("items") or []]
    comment = (body.get("comment") or {}).get("comment")
    source = ((body.get("arguments") or {}).get("extension_attributes") or {}).get("source_code")
    shipment = sim.ship(order, wanted, list(body.get("tracks") or []), comment, source)
    return 200, shipment.entity_id


def invoice(sim: MagentoState, request: Request) -> Result:
    return 200, sim.invoice(_order(sim, request.params["orderId"])).entity_id


def list_shipments(sim: MagentoState, request: Request) -> Result:
    fields: dict[str, Callable[[Any], Any]] = {
        "entity_id": lambda s: s.entity_id, "order_id": lambda s: s.order_id,
        "increment_id": lambda s: s.increment_id, "created_at": lambda s: render.when(s.created)}
    return _listing(sorted(sim.shipments.values(), key=lambda s: s.entity_id), _criteria(sim, request), fields,
                    render.shipment)


def get_shipment(sim: MagentoState, request: Request) -> Result:
    shipment = sim.shipments.get(int(request.params["id"]))
    if shipment is None:
        raise MagentoError(404, NOT_FOUND)
    return 200, render.shipment(shipment)


def list_invoices(sim: MagentoState, request: Request) -> Result:
    fields: dict[str, Callable[[Any], Any]] = {"entity_id": lambda i: i.entity_id, "order_id": lambda i: i.order_id}
    return _listing(sorted(sim.invoices.values(), key=lambda i: i.entity_id), _criteria(sim, request), fields,
                    render.invoice)


def list_products(sim: MagentoState, request: Request) -> Result:
    return _listing(sorted(sim.products.values(), key=lambda p: p.id), _criteria(sim, request), PRODUCT_FIELDS,
                    lambda p: render.product(p, sim))


def get_product(sim: MagentoState, request: Request) -> Result:
    return 200, render.product(_product(sim, request.params["sku"]), sim)


def list_sources(sim: MagentoState, request: Request) -> Result:
    fields: dict[str, Callable[[Any], Any]] = {"source_code": lambda s: s, "enabled": lambda s: 1}
    return _listing(list(sim.sources), _criteria(sim, request), fields,
                    lambda s: {"source_code": s, "name": s.title(), "enabled": True, "country_id": "NL",
                               "postcode": "3511 CD"})


def list_source_items(sim: MagentoState, request: Request) -> Result:
    fields: dict[str, Callable[[Any], Any]] = {
        "sku": lambda s: s.sku, "source_code": lambda s: s.source_code, "quantity": lambda s: s.quantity,
        "status": lambda s: s.status}
    rows = sorted(sim.source_items.values(), key=lambda s: (s.sku, s.source_code))
    return _listing(rows, _criteria(sim, request), fields, render.source_item)


def save_source_items(sim: MagentoState, request: Request) -> Result:
    """``SourceItemsSaveInterface``: the whole list is validated first, then saved at once."""
    items = (request.body or {}).get("sourceItems") or []
    if not items:
        raise MagentoError(400, "Input data is empty")
    parsed = []
    for raw in items:
        sku, source = str(raw.get("sku") or ""), str(raw.get("source_code") or "")
        if not sku or not source or "quantity" not in raw:
            raise MagentoError(400, "Validation Failed")
        if source not in sim.sources:
            raise MagentoError(400, 'Source with code "%value" does not exist.', {"value": source})
        if sim.product_by_sku(sku) is None:
            raise MagentoError(400, "Could not save Source Item")
        parsed.append((sku, source, _qty(raw["quantity"]), int(raw.get("status", 1))))
    for sku, source, quantity, status in parsed:
        sim.set_source_item(sku, source, quantity, status)
    return 200, []


def get_stock_item(sim: MagentoState, request: Request) -> Result:
    return 200, render.stock_item(_product(sim, request.params["productSku"]))


def put_stock_item(sim: MagentoState, request: Request) -> Result:
    """The legacy stock item write; the item id in the path is ignored, as Magento does.

    A configurable product, or one with ``manage_stock`` off, answers 200 and keeps its stock
    (a known Magento pitfall): the plugin reads the item back to notice.
    """
    product = _product(sim, request.params["productSku"])
    body = (request.body or {}).get("stockItem") or {}
    if product.type_id == "configurable" or not product.manage_stock or body.get("manage_stock") is False:
        return 200, product.stock_item_id
    qty = _qty(body["qty"])
    product.qty = qty
    product.is_in_stock = bool(body.get("is_in_stock", qty > 0))
    if sim.msi:  # the legacy API writes through to the default source
        sim.set_source_item(product.sku, sim.sources[0], qty, 1 if product.is_in_stock else 0)
    return 200, product.stock_item_id


def store_configs(sim: MagentoState, request: Request) -> Result:
    return 200, render.store_config(sim, request.host)


HANDLERS: dict[str, Handler] = {
    "GetV1Orders": list_orders,
    "GetV1OrdersId": get_order,
    "PostV1OrdersIdCancel": cancel_order,
    "PostV1OrderOrderIdShip": ship,
    "PostV1OrderOrderIdInvoice": invoice,
    "GetV1Shipments": list_shipments,
    "GetV1ShipmentId": get_shipment,
    "GetV1Invoices": list_invoices,
    "GetV1Products": list_products,
    "GetV1ProductsSku": get_product,
    "GetV1InventorySources": list_sources,
    "GetV1InventorySourceitems": list_source_items,
    "PostV1InventorySourceitems": save_source_items,
    "GetV1StockItemsProductSku": get_stock_item,
    "PutV1ProductsProductSkuStockItemsItemId": put_stock_item,
    "GetV1StoreStoreConfigs": store_configs,
}
