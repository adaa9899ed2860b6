"""The JSON shapes Magento answers with (the spec's ``*-interface`` definitions).

Magento writes ``null`` for unset fields, including some the spec marks required (a track's
``weight``, ``qty`` and ``description``). Swagger 2.0 cannot say "nullable", so where the spec
requires a field the simulator writes a typed empty value instead, and leaves optional unset
fields out — the answers stay valid against the official schema.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from kade.plugins.magento.simulator.state import Invoice, Item, MagentoState, Order, Product, Shipment, SourceItem

JSON = dict[str, Any]


def when(moment: datetime) -> str:
    """Magento's API dates: UTC, ``Y-m-d H:i:s``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def num(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def item(i: Item, order: Order, parent: JSON | None = None) -> JSON:
    out: JSON = {
        "item_id": i.item_id, "order_id": i.order_id, "product_id": i.product_id, "sku": i.sku, "name": i.name,
        "product_type": i.product_type, "qty_ordered": num(i.qty_ordered), "qty_shipped": num(i.qty_shipped),
        "qty_canceled": num(i.qty_canceled), "qty_invoiced": num(i.qty_invoiced), "qty_refunded": num(i.qty_refunded),
        "qty_backordered": 0, "qty_returned": 0, "price": num(i.price), "base_price": num(i.price),
        "row_total": num(i.price * i.qty_ordered), "store_id": order.store_id, "is_virtual": 0,
        "created_at": when(order.created), "updated_at": when(order.updated),
    }
    if i.parent_item_id is not None:
        out["parent_item_id"] = i.parent_item_id
        if parent is not None:
            out["parent_item"] = parent
    return out


def order(o: Order) -> JSON:
    rendered: dict[int, JSON] = {}
    for i in o.items:
        rendered[i.item_id] = item(i, o, rendered.get(i.parent_item_id) if i.parent_item_id else None)
    items = list(rendered.values())
    address = {**o.address, "address_type": "shipping", "parent_id": o.entity_id}
    billing = {**o.address, "address_type": "billing", "parent_id": o.entity_id}
    out: JSON = {
        "entity_id": o.entity_id, "increment_id": o.increment_id, "state": o.state, "status": o.status,
        "created_at": when(o.created), "updated_at": when(o.updated), "customer_email": o.email,
        "customer_firstname": o.firstname, "customer_lastname": o.lastname, "customer_is_guest": 1,
        "grand_total": num(o.grand_total), "base_grand_total": num(o.grand_total),
        "order_currency_code": o.currency, "base_currency_code": o.currency, "store_id": o.store_id,
        "shipping_amount": num(o.shipping_amount), "shipping_description": "Flat Rate - Fixed",
        "total_qty_ordered": num(sum((i.qty_ordered for i in o.items if i.parent_item_id is None), Decimal(0))),
        "can_ship_partially": 1, "can_ship_partially_item": 1,
        "items": items, "billing_address": billing, "status_histories": [],
        "extension_attributes": {"shipping_assignments": [
            {"shipping": {"address": address, "method": "flatrate_flatrate"}, "items": items}]},
    }
    for key, value in o.patch.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def shipment(s: Shipment) -> JSON:
    return {
        "entity_id": s.entity_id, "increment_id": s.increment_id, "order_id": s.order_id, "store_id": 1,
        "created_at": when(s.created), "updated_at": when(s.created),
        "total_qty": num(sum((q for _, q, _, _ in s.items), Decimal(0))),
        "items": [{"entity_id": s.entity_id * 1000 + n, "parent_id": s.entity_id, "order_item_id": item_id,
                   "qty": num(q), "sku": sku, "name": name} for n, (item_id, q, sku, name) in enumerate(s.items)],
        "tracks": [{"entity_id": t.entity_id, "order_id": t.order_id, "parent_id": t.parent_id,
                    "track_number": t.track_number, "title": t.title, "carrier_code": t.carrier_code,
                    "weight": 0, "qty": 0, "description": "", "created_at": when(t.created),
                    "updated_at": when(t.created)} for t in s.tracks],
        "comments": [{"entity_id": s.entity_id * 1000 + n, "parent_id": s.entity_id, "comment": c,
                      "is_customer_notified": 0, "is_visible_on_front": 0, "created_at": when(s.created)}
                     for n, c in enumerate(s.comments)],
        "packages": [],
        "extension_attributes": {"source_code": s.source_code} if s.source_code else {},
    }


def invoice(inv: Invoice) -> JSON:
    return {
        "entity_id": inv.entity_id, "increment_id": inv.increment_id, "order_id": inv.order_id,
        "grand_total": num(inv.grand_total), "base_grand_total": num(inv.grand_total), "state": 2,
        "total_qty": num(sum((q for _, q, _ in inv.items), Decimal(0))), "created_at": when(inv.created),
        "items": [{"order_item_id": item_id, "qty": num(q), "sku": sku} for item_id, q, sku in inv.items],
        "comments": [],
    }


def stock_item(p: Product) -> JSON:
    return {
        "item_id": p.stock_item_id, "product_id": p.id, "stock_id": 1, "qty": num(p.qty), "is_in_stock": p.is_in_stock,
        "is_qty_decimal": False, "show_default_notification_message": False, "use_config_min_qty": True,
        "min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1, "use_config_max_sale_qty": True,
        "max_sale_qty": 10000, "use_config_backorders": True, "backorders": 0, "use_config_notify_stock_qty": True,
        "notify_stock_qty": 1, "use_config_qty_increments": True, "qty_increments": 0,
        "use_config_enable_qty_inc": True, "enable_qty_increments": False, "use_config_manage_stock": True,
        "manage_stock": p.manage_stock, "low_stock_date": "", "is_decimal_divided": False,
        "stock_status_changed_auto": 0,
    }


def product(p: Product, state: MagentoState) -> JSON:
    extension: JSON = {"website_ids": [1], "stock_item": stock_item(p)}
    if p.type_id == "configurable":
        extension["configurable_product_links"] = list(p.children)
    custom = [{"attribute_code": "ean", "value": p.ean}] if p.ean else []
    return {
        "id": p.id, "sku": p.sku, "name": p.name, "attribute_set_id": 4, "price": num(p.price), "status": 1,
        "visibility": 4 if p.type_id == "configurable" or not _is_child(p, state) else 1, "type_id": p.type_id,
        "created_at": when(p.created), "updated_at": when(p.created), "extension_attributes": extension,
        "custom_attributes": custom,
    }


def _is_child(p: Product, state: MagentoState) -> bool:
    return any(p.id in parent.children for parent in state.products.values())


def source_item(s: SourceItem) -> JSON:
    return {"sku": s.sku, "source_code": s.source_code, "quantity": num(s.quantity), "status": s.status}


def store_config(state: MagentoState, host: str) -> list[JSON]:
    return [{
        "id": store.id, "code": store.code, "website_id": 1, "locale": "nl_NL", "base_currency_code": "EUR",
        "default_display_currency_code": "EUR", "timezone": "Europe/Amsterdam", "weight_unit": "kgs",
        "base_url": f"https://{host}/", "base_link_url": f"https://{host}/",
        "base_static_url": f"https://{host}/static/", "base_media_url": f"https://{host}/media/",
        "secure_base_url": f"https://{host}/", "secure_base_link_url": f"https://{host}/",
        "secure_base_static_url": f"https://{host}/static/", "secure_base_media_url": f"https://{host}/media/",
    } for store in state.stores]
