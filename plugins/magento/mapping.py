"""Magento JSON ↔ Kade's types.

The ugly parts live here: a configurable product's order line appears twice (the configurable
parent carrying the simple SKU, and the simple child with ``parent_item_id``), so the parent is
imported once with the child's SKU and name — shipments must name the parent's ``item_id``;
a bundle's children are the lines (each its own SKU) and its parent is dropped; virtual and
downloadable items have nothing to ship. Quantities are decimals in Magento; Kade ships whole
units, so a fractional quantity quarantines its order with that reason.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from kade.mapping import MappingError, parse_timestamp
from kade.types import Address, OrderStatus, RemoteOrder, RemoteOrderLine, RemoteProduct, RemoteStock

DEFAULT_IMPORT_STATES = ("processing",)
#: item types with nothing to put in a parcel
UNSHIPPABLE_TYPES = frozenset({"virtual", "downloadable", "giftcard_virtual"})


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingError(f"{what} is missing or not a number: {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what} {value!r} is not a number") from None
    if number != number.to_integral_value():
        raise MappingError(f"{what} {value!r} is not a whole number (decimal quantities are not supported)")
    return int(number)


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise MappingError(f"{what} {value!r} is not a number") from None


def order_status(raw: dict[str, Any], import_states: tuple[str, ...]) -> OrderStatus | None:
    """Kade's view of an order's ``state``; None for an order not (yet) to fulfil."""
    state = str(raw.get("state") or "")
    if state == "canceled":
        return OrderStatus.CANCELLED
    if state == "closed":  # refunded by a credit memo: shipped what was shipped, nothing more will
        items = raw.get("items")
        if not isinstance(items, list):
            items = []
        shipped = any(isinstance(i, dict) and (i.get("qty_shipped") or 0) > 0 for i in items)
        return OrderStatus.SHIPPED if shipped else OrderStatus.CANCELLED
    if state == "complete":
        return OrderStatus.SHIPPED
    return OrderStatus.OPEN if state in import_states else None


def _address(raw: Any, email: str = "") -> Address:
    if not isinstance(raw, dict):
        return Address(email=email)
    street = raw.get("street") or []
    lines = [str(s) for s in street] if isinstance(street, list) else [str(street)]
    name = " ".join(str(raw.get(k) or "") for k in ("firstname", "middlename", "lastname")).split()
    return Address(name=" ".join(name), company=str(raw.get("company") or ""), street=" ".join(lines),
                   postcode=str(raw.get("postcode") or ""), city=str(raw.get("city") or ""),
                   country=str(raw.get("country_id") or ""), email=str(raw.get("email") or email),
                   phone=str(raw.get("telephone") or ""))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _shipping_address(raw: dict[str, Any]) -> Any:
    assignments = _dict(raw.get("extension_attributes")).get("shipping_assignments")
    if isinstance(assignments, list) and assignments and isinstance(assignments[0], dict):
        return _dict(assignments[0].get("shipping")).get("address") or raw.get("billing_address")
    return raw.get("billing_address")


def _item_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"{what} {value!r} is not an integer")
    return value


def order_lines(raw: dict[str, Any]) -> tuple[RemoteOrderLine, ...]:
    items = raw.get("items")
    if not isinstance(items, list) or not items:
        raise MappingError("order has no items")
    by_id: dict[int, dict[str, Any]] = {}
    for item in items:
        if not isinstance(item, dict):
            raise MappingError(f"order item is not an object: {item!r}")
        if item.get("item_id") is None:
            raise MappingError("order item without item_id")
        by_id[_item_id(item["item_id"], "item_id")] = item
        if item.get("parent_item_id") is not None:
            _item_id(item["parent_item_id"], "parent_item_id")
    children: dict[int, dict[str, Any]] = {}
    for item in by_id.values():
        if item.get("parent_item_id") is not None:
            children.setdefault(item["parent_item_id"], item)
    lines = []
    for item in items:
        item_id = item["item_id"]
        kind = str(item.get("product_type") or "simple")
        parent = by_id.get(item["parent_item_id"]) if item.get("parent_item_id") is not None else None
        if parent is not None and parent.get("product_type") == "configurable":
            continue  # the configurable parent carries this line
        if kind == "bundle" or kind in UNSHIPPABLE_TYPES:
            continue
        sku = item.get("sku")
        if not isinstance(sku, str) or not sku.strip():
            raise MappingError(f"order item {item_id} has no sku")
        ordered = _int(item.get("qty_ordered"), f"item {item_id} qty_ordered")
        shipped = _int(item.get("qty_shipped") or 0, f"item {item_id} qty_shipped")
        gone = _int(item.get("qty_canceled") or 0, f"item {item_id} qty_canceled") + _int(
            item.get("qty_refunded") or 0, f"item {item_id} qty_refunded")
        child = children.get(item_id) if kind == "configurable" else None
        lines.append(RemoteOrderLine(
            remote_line_id=str(item_id), sku=sku.strip(), name=str((child or item).get("name") or ""),
            quantity=ordered, quantity_shipped=min(shipped, ordered),
            quantity_cancelled=max(0, min(ordered - shipped, gone)),
            unit_price=_decimal(item.get("price"), f"item {item_id} price"), remote_product_id=sku.strip(),
        ))
    return tuple(lines)


def to_remote_order(raw: dict[str, Any], status: OrderStatus) -> RemoteOrder:
    entity_id = raw.get("entity_id")
    if not isinstance(entity_id, int) or isinstance(entity_id, bool):
        raise MappingError(f"entity_id {entity_id!r} is not an integer")
    email = str(raw.get("customer_email") or "")
    created = parse_timestamp(raw.get("created_at"), "created_at")
    lines = order_lines(raw)
    if status is OrderStatus.OPEN and lines and all(li.quantity_shipped + li.quantity_cancelled >= li.quantity
                                                     for li in lines):
        # nothing left to ship: Magento keeps a shipped order that is not invoiced ``processing``
        shipped = any(li.quantity_shipped for li in lines)
        status = OrderStatus.SHIPPED if shipped else OrderStatus.CANCELLED
    try:
        return RemoteOrder(
            remote_id=str(entity_id), number=str(raw.get("increment_id") or entity_id), status=status,
            created_at=created,
            updated_at=parse_timestamp(raw.get("updated_at") or raw.get("created_at"), "updated_at"),
            currency=str(raw.get("order_currency_code") or "EUR"),
            total=_decimal(raw.get("grand_total"), "grand_total"),
            billing_address=_address(raw.get("billing_address"), email),
            shipping_address=_address(_shipping_address(raw), email),
            lines=lines, raw=raw,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise MappingError(f"{where or 'order'}: {first.get('msg')}") from None


def _ean(raw: dict[str, Any], attribute: str) -> str | None:
    if not attribute:
        return None
    for custom in raw.get("custom_attributes") or []:
        if isinstance(custom, dict) and custom.get("attribute_code") == attribute and custom.get("value"):
            return str(custom["value"]).strip() or None
    return None


def to_remote_product(raw: dict[str, Any], *, ean_attribute: str = "") -> RemoteProduct:
    sku = raw.get("sku")
    if not isinstance(sku, str) or not sku.strip():
        raise MappingError(f"product {raw.get('id')!r} has no sku")
    stock_item = (raw.get("extension_attributes") or {}).get("stock_item") or {}
    qty = stock_item.get("qty")
    return RemoteProduct(
        remote_id=sku, sku=sku, ean=_ean(raw, ean_attribute), name=str(raw.get("name") or ""),
        price=_decimal(raw.get("price"), "price") if raw.get("price") is not None else None,
        stock=int(Decimal(str(qty))) if qty is not None else None,
        manages_stock=bool(stock_item.get("manage_stock", True)),
    )


def to_remote_stock(raw: dict[str, Any]) -> RemoteStock:
    """A source item (``sku``, ``quantity``) as the nightly check reads it."""
    sku = str(raw.get("sku") or "")
    if not sku:
        raise MappingError("source item without sku")
    return RemoteStock(remote_product_id=sku, sku=sku, quantity=int(_decimal(raw.get("quantity"), "quantity")))
