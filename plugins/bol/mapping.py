"""Bol JSON and CSV → Kade's typed objects.

Everything here is strict about what Kade relies on (ids, quantities, dates, prices) and lenient
about the rest, and every refusal names the field and the value, because the reason ends up in
the quarantine where an operator has to understand it.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from kade.mapping import MappingError, parse_timestamp
from kade.types import (
    Address,
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
    RemoteProduct,
    RemoteStock,
)


def _count(item: Mapping[str, Any], name: str, what: str, *, positive: bool = False) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < (1 if positive else 0):
        kind = "a positive whole number" if positive else "a whole number ≥ 0"
        raise MappingError(f"{what}: {name} {value!r} is not {kind}")
    return value


def _money(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MappingError(f"{what} {value!r} is not a number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what} {value!r} is not a number") from None
    if not amount.is_finite() or amount < 0:
        raise MappingError(f"{what} {value!r} is not a valid amount")
    return amount


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def address(details: object) -> Address:
    if not isinstance(details, dict):
        return Address()
    number = " ".join(p for p in (_str(details.get("houseNumber")), _str(details.get("houseNumberExtension"))) if p)
    return Address(
        name=" ".join(p for p in (_str(details.get("firstName")), _str(details.get("surname"))) if p),
        company=_str(details.get("company")),
        street=_str(details.get("streetName")),
        house_number=number,
        postcode=_str(details.get("zipCode")),
        city=_str(details.get("city")),
        country=_str(details.get("countryCode")),
        email=_str(details.get("email")),
        phone=_str(details.get("deliveryPhoneNumber")),
    )


def _status(lines: tuple[RemoteOrderLine, ...]) -> RemoteOrderStatus:
    """The order's state as the warehouse sees it: bol-fulfilled lines don't count unless all are."""
    own = [line for line in lines if not line.fulfilled_by_marketplace] or list(lines)
    if all(line.quantity_cancelled >= line.quantity for line in own):
        return RemoteOrderStatus.CANCELLED
    if all(line.quantity_shipped + line.quantity_cancelled >= line.quantity for line in own):
        return RemoteOrderStatus.SHIPPED
    return RemoteOrderStatus.OPEN


def _fulfilment(value: object, what: str) -> bool:
    """True for bol-fulfilled (FBB/LVB) items."""
    if value not in ("FBR", "FBB"):
        raise MappingError(f"{what}: fulfilment method {value!r} is neither FBR nor FBB")
    return value == "FBB"


def order_from_detail(detail: Mapping[str, Any], reduced: Mapping[str, Any] | None = None) -> RemoteOrder:
    """Translate ``GET /retailer/orders/{id}`` (plus its list entry, for fields the detail may lack).

    :raises MappingError: with the reason to quarantine the order under.
    """
    order_id = detail.get("orderId")
    if not isinstance(order_id, str) or not order_id:
        raise MappingError(f"orderId {order_id!r} is missing or not a string")
    placed_raw = detail.get("orderPlacedDateTime") or (reduced or {}).get("orderPlacedDateTime")
    placed = parse_timestamp(placed_raw, "orderPlacedDateTime", assume_utc=False)
    items = detail.get("orderItems")
    if not isinstance(items, list) or not items:
        raise MappingError("orderItems is missing or empty")
    listed: dict[str, Mapping[str, Any]] = {}
    for entry in (reduced or {}).get("orderItems") or ():
        if isinstance(entry, dict) and isinstance(entry.get("orderItemId"), str):
            listed[entry["orderItemId"]] = entry

    lines: list[RemoteOrderLine] = []
    changed = [placed]
    total = Decimal("0")
    cancellation_requested = False
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise MappingError(f"orderItems[{n}] is not an object")
        item_id = item.get("orderItemId")
        if not isinstance(item_id, str) or not item_id:
            raise MappingError(f"orderItems[{n}]: orderItemId {item_id!r} is missing or not a string")
        if item_id in seen:
            raise MappingError(f"order item {item_id} appears twice")
        seen.add(item_id)
        what = f"order item {item_id}"
        quantity = _count(item, "quantity", what, positive=True)
        shipped = _count(item, "quantityShipped", what)
        cancelled = _count(item, "quantityCancelled", what)
        if shipped + cancelled > quantity:
            raise MappingError(
                f"{what}: shipped ({shipped}) plus cancelled ({cancelled}) exceeds the quantity ({quantity})"
            )
        unit_price = _money(item.get("unitPrice"), f"{what}: unitPrice")
        total += _money(item.get("totalPrice", unit_price * quantity), f"{what}: totalPrice")
        fulfilment = item.get("fulfilment")
        method = fulfilment.get("method") if isinstance(fulfilment, dict) else None
        by_bol = _fulfilment(method or listed.get(item_id, {}).get("fulfilmentMethod"), what)
        product: Mapping[str, Any] = item["product"] if isinstance(item.get("product"), dict) else {}
        offer: Mapping[str, Any] = item["offer"] if isinstance(item.get("offer"), dict) else {}
        ean = _str(product.get("ean")) or _str(listed.get(item_id, {}).get("ean"))
        if item.get("latestChangedDateTime"):
            changed.append(
                parse_timestamp(item["latestChangedDateTime"], f"{what}: latestChangedDateTime", assume_utc=False)
            )
        open_quantity = quantity - shipped - cancelled
        if item.get("cancellationRequest") is True and open_quantity > 0 and not by_bol:
            cancellation_requested = True
        lines.append(
            RemoteOrderLine(
                remote_line_id=item_id,
                sku=_str(offer.get("reference")) or None,
                ean=ean or None,
                name=_str(product.get("title")),
                quantity=quantity,
                quantity_cancelled=cancelled,
                quantity_shipped=shipped,
                unit_price=unit_price,
                fulfilled_by_marketplace=by_bol,
                remote_product_id=_str(offer.get("offerId")) or None,
            )
        )
    frozen = tuple(lines)
    try:
        return RemoteOrder(
            remote_id=order_id,
            number=order_id,
            status=_status(frozen),
            cancellation_requested=cancellation_requested,
            created_at=placed,
            updated_at=max(changed),
            currency="EUR",
            total=total,
            billing_address=address(detail.get("billingDetails")),
            shipping_address=address(detail.get("shipmentDetails")),
            lines=frozen,
            raw=dict(detail),
        )
    except ValidationError as exc:
        raise MappingError(f"order {order_id}: {exc.errors()[0].get('msg', exc)}") from None


def order_from_list_entry(entry: Mapping[str, Any]) -> RemoteOrder:
    """Translate a list entry alone; used for orders bol fulfils entirely, which need no detail call."""
    return order_from_detail(
        {
            "orderId": entry.get("orderId"),
            "orderPlacedDateTime": entry.get("orderPlacedDateTime"),
            "orderItems": [
                {
                    "orderItemId": i.get("orderItemId"),
                    "quantity": i.get("quantity"),
                    "quantityShipped": i.get("quantityShipped"),
                    "quantityCancelled": i.get("quantityCancelled"),
                    "cancellationRequest": i.get("cancellationRequest"),
                    "unitPrice": 0,
                    "totalPrice": 0,
                    "fulfilment": {"method": i.get("fulfilmentMethod")},
                    "product": {"ean": i.get("ean")},
                    "latestChangedDateTime": i.get("latestChangedDateTime"),
                }
                if isinstance(i, dict)
                else i
                for i in entry.get("orderItems") or ()
            ],
        },
        entry,
    )


def is_bol_fulfilled(entry: Mapping[str, Any]) -> bool:
    """Whether every item of a list entry is fulfilled by bol (FBB), so the warehouse has no part."""
    items = entry.get("orderItems")
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(i, dict) and i.get("fulfilmentMethod") == "FBB" for i in items)
    )


# -- offer export (CSV) -------------------------------------------------------------------------


def _csv_int(row: Mapping[str, str], name: str, what: str) -> int:
    raw = (row.get(name) or "").strip()
    try:
        return int(raw)
    except ValueError:
        raise MappingError(f"{what}: {name} {raw!r} is not a whole number") from None


def product_from_row(row: Mapping[str, str]) -> RemoteProduct:
    """One row of the offer export. Bol says to read the columns by name, not position."""
    offer_id = (row.get("offerId") or "").strip()
    if not offer_id:
        raise MappingError("offer export row without offerId")
    what = f"offer {offer_id}"
    price_raw = (row.get("bundlePricesPrice") or "").strip()
    price = _money(price_raw, f"{what}: bundlePricesPrice") if price_raw else None
    method = (row.get("fulfilmentType") or "FBR").strip()
    by_bol = _fulfilment(method, what)
    return RemoteProduct(
        remote_id=offer_id,
        sku=(row.get("referenceCode") or "").strip() or None,
        ean=(row.get("ean") or "").strip() or None,
        name=(row.get("productTitle") or row.get("title") or "").strip(),
        price=price,
        stock=_csv_int(row, "stockAmount", what),
        manages_stock=not by_bol,
    )


def stock_from_row(row: Mapping[str, str]) -> RemoteStock | None:
    """Current stock of a retailer-fulfilled offer; None for bol-fulfilled ones (bol keeps their stock)."""
    product = product_from_row(row)
    if not product.manages_stock:
        return None
    return RemoteStock(remote_product_id=product.remote_id, sku=product.sku, ean=product.ean, quantity=product.stock)
