"""Translate Shopify GraphQL nodes and REST webhook payloads into Kade's typed objects.

Ids stay Shopify global ids (``gid://shopify/Order/1``) everywhere, so an order imported by
polling and the same order announced by a webhook (whose REST body carries
``admin_graphql_api_id``) have the same remote id. A product's remote id is its variant's
*inventory item*, because that is what stock updates address.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from kade.mapping import MappingError, parse_timestamp
from kade.types import (
    Address,
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
    RemoteProduct,
    RemoteStock,
)

_GID = re.compile(r"^gid://shopify/(?P<type>[A-Za-z]+)/(?P<id>\d+)(?:\?.*)?$")


def to_gid(kind: str, value: str | int) -> str:
    """Accept a numeric id or a global id of ``kind`` and return the global id."""
    text = str(value).strip()
    if text.isdigit():
        return f"gid://shopify/{kind}/{text}"
    match = _GID.match(text)
    if match is None or match.group("type") != kind:
        raise MappingError(f"{text!r} is not a Shopify {kind} id")
    return text


def _get(node: Mapping[str, Any], *path: str) -> Any:
    value: Any = node
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MappingError(f"{what} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise MappingError(f"{what} {value!r} is not a finite number")
    return number


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MappingError(f"{what} {value!r} is not a whole number")
    if value < 0:
        raise MappingError(f"{what} {value} is negative")
    return value


def address_from_node(node: Any, *, email: str = "", phone: str = "") -> Address:
    if not isinstance(node, Mapping):
        return Address(email=email, phone=phone)
    name = _text(node.get("name")) or " ".join(
        p for p in (_text(node.get("firstName")), _text(node.get("lastName"))) if p
    )
    street = ", ".join(p for p in (_text(node.get("address1")), _text(node.get("address2"))) if p)
    return Address(
        name=name,
        company=_text(node.get("company")),
        street=street,
        postcode=_text(node.get("zip")),
        city=_text(node.get("city")),
        country=_text(node.get("countryCodeV2")),
        email=email,
        phone=_text(node.get("phone")) or phone,
    )


def line_nodes(node: Any) -> list[Mapping[str, Any]]:
    """The first page of an order node's line items (``lineItems.nodes``)."""
    if not isinstance(node, Mapping):
        raise MappingError(f"order is not an object: {type(node).__name__}")
    connection = node.get("lineItems") or {}
    if not isinstance(connection, Mapping) or not isinstance(connection.get("nodes") or [], list):
        raise MappingError("lineItems is not a connection with a nodes list")
    return list(connection.get("nodes") or ())


def line_from_node(node: Any, *, cancelled_order: bool) -> RemoteOrderLine:
    if not isinstance(node, Mapping):
        raise MappingError(f"a line item is not an object: {type(node).__name__}")
    line_id = node.get("id")
    if not isinstance(line_id, str) or not line_id:
        raise MappingError("a line item has no id")
    what = f"line item {line_id}"
    quantity = _int(node.get("quantity"), f"{what} quantity")
    current = _int(node.get("currentQuantity"), f"{what} currentQuantity")
    unfulfilled = _int(node.get("unfulfilledQuantity"), f"{what} unfulfilledQuantity")
    if current > quantity:
        raise MappingError(f"{what} currentQuantity {current} exceeds its quantity {quantity}")
    shipped = max(0, current - unfulfilled)
    # Cancelling keeps shipped units; everything else on a cancelled order is cancelled.
    cancelled = quantity - shipped if cancelled_order else quantity - current
    raw_variant = node.get("variant")
    variant: Mapping[str, Any] = raw_variant if isinstance(raw_variant, Mapping) else {}
    amount = _get(node, "originalUnitPriceSet", "shopMoney", "amount")
    return RemoteOrderLine(
        remote_line_id=line_id,
        sku=node.get("sku") or None,
        ean=_get(variant, "barcode") or None,
        name=_text(node.get("name")),
        quantity=quantity,
        quantity_cancelled=cancelled,
        quantity_shipped=shipped,
        unit_price=_decimal(amount, f"{what} price") if amount is not None else Decimal("0"),
        remote_product_id=_get(variant, "inventoryItem", "id") or None,
    )


def order_from_node(node: Mapping[str, Any], line_nodes: Sequence[Mapping[str, Any]]) -> RemoteOrder:
    """Build a ``RemoteOrder``; raises ``MappingError`` (or a validation error) saying what is wrong."""
    if not isinstance(node, Mapping):
        raise MappingError(f"order is not an object: {type(node).__name__}")
    remote_id = node.get("id")
    if not isinstance(remote_id, str) or not _GID.match(remote_id):
        raise MappingError(f"order id {remote_id!r} is not a Shopify global id")
    name = node.get("name")
    if not name:
        raise MappingError("order has no name")
    if not line_nodes:
        raise MappingError("order has no line items")
    cancelled = node.get("cancelledAt") is not None
    if cancelled:
        status = RemoteOrderStatus.CANCELLED
    elif node.get("displayFulfillmentStatus") == "FULFILLED":
        status = RemoteOrderStatus.SHIPPED
    else:
        status = RemoteOrderStatus.OPEN
    email, phone = _text(node.get("email")), _text(node.get("phone"))
    lines = tuple(line_from_node(line, cancelled_order=cancelled) for line in line_nodes)
    seen: set[str] = set()
    for line in lines:
        if line.remote_line_id in seen:
            raise MappingError(f"line item {line.remote_line_id} appears twice")
        seen.add(line.remote_line_id)
    return RemoteOrder(
        remote_id=remote_id,
        number=str(name),
        status=status,
        created_at=parse_timestamp(node.get("createdAt"), "createdAt"),
        updated_at=parse_timestamp(node.get("updatedAt"), "updatedAt"),
        currency=_text(_get(node, "totalPriceSet", "shopMoney", "currencyCode") or node.get("currencyCode")),
        total=_decimal(_get(node, "totalPriceSet", "shopMoney", "amount"), "order total"),
        billing_address=address_from_node(node.get("billingAddress"), email=email, phone=phone),
        shipping_address=address_from_node(node.get("shippingAddress"), email=email, phone=phone),
        lines=lines,
        raw=dict(node),
    )


def product_from_variant(node: Mapping[str, Any]) -> RemoteProduct:
    item_id = _get(node, "inventoryItem", "id")
    if not isinstance(item_id, str) or not item_id:
        raise MappingError(f"variant {node.get('id')!r} has no inventory item")
    price = node.get("price")
    return RemoteProduct(
        remote_id=item_id,
        sku=node.get("sku") or None,
        ean=node.get("barcode") or None,
        name=_text(node.get("displayName")),
        price=_decimal(price, f"variant {node.get('id')} price") if price is not None else None,
        manages_stock=bool(_get(node, "inventoryItem", "tracked")),
    )


_ITEM_GID = re.compile(r"gid://shopify/InventoryItem/\d{1,20}")
#: Shopify refuses quantities beyond these (INVALID_QUANTITY_TOO_HIGH / _TOO_LOW)
MAX_QUANTITY = 1_000_000_000


def stock_from_level(node: Mapping[str, Any]) -> RemoteStock:
    """An inventory level's ``available`` quantity; MappingError for one that cannot be trusted."""
    item_id = _get(node, "item", "id")
    if not isinstance(item_id, str) or not item_id:
        raise MappingError("an inventory level has no item")
    if _ITEM_GID.fullmatch(item_id) is None:
        raise MappingError(f"an inventory level names no inventory item: {item_id[:100]!r}")
    quantity = None
    quantities = node.get("quantities")
    if quantities is not None and not isinstance(quantities, list):
        raise MappingError(f"inventory item {item_id} has quantities that are no list")
    for q in quantities or ():
        if isinstance(q, Mapping) and q.get("name") == "available":
            quantity = q.get("quantity")
    if quantity is not None and (
        not isinstance(quantity, int) or isinstance(quantity, bool) or abs(quantity) > MAX_QUANTITY
    ):
        raise MappingError(f"inventory item {item_id[:100]} has an impossible available quantity {quantity!r:.40}")
    sku = _get(node, "item", "sku")
    return RemoteStock(remote_product_id=item_id, sku=sku if isinstance(sku, str) and sku else None, quantity=quantity)


def order_gid_from_rest(payload: Mapping[str, Any]) -> str | None:
    """The global id of a REST order body (webhook payloads are REST resources)."""
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid:
        return gid
    rest_id = payload.get("id")
    if isinstance(rest_id, int) and not isinstance(rest_id, bool):
        return f"gid://shopify/Order/{rest_id}"
    return None
