"""CCV Shop records → Kade's typed objects.

Order rows name the product by ``product_number``; a row of an attribute combination also
carries the combination's ``sub_sku_number``, ``sub_ean_number`` and ``sub_product_number``,
which identify what was sold, so they win. ``count`` is a float in CCV: a fractional count is a
malformed row, not something to round. Status ids: 8 is cancelled, 5-7 (sent, delivered,
completed) shipped, every other id an open order.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from kade.mapping import MappingError, parse_timestamp
from kade.types import Address, OrderStatus, RemoteOrder, RemoteOrderLine, RemoteProduct

JSON = dict[str, Any]
SENT, CANCELLED = 5, 8
SHIPPED_STATUSES = frozenset({5, 6, 7})
#: combination stock lives on ``attributecombinations``; the product's own ``stock`` is not used then
COMBINATION_STOCK = "attribute"
#: row types that are goods to ship (others are costs, discounts, gift cards...)
GOODS = frozenset({"product"})


def _text(raw: JSON, name: str) -> str:
    value = raw.get(name)
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip() if isinstance(value, str | int) else ""


def _opt(value: str) -> str | None:
    return value or None


def _int(raw: JSON, name: str, what: str) -> int:
    value = raw.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise MappingError(f"{what} {name} {value!r} is not a number")
    return value


def _money(raw: JSON, name: str) -> Decimal:
    value = raw.get(name)
    if value is None or value == "":
        return Decimal("0")
    if isinstance(value, bool):
        raise MappingError(f"{name} {value!r} is not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{name} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise MappingError(f"{name} {value!r} is not an amount")
    return amount


def status_id(raw: JSON) -> int:
    return _int(raw, "status", "order")


def order_status(raw: JSON) -> OrderStatus:
    status = status_id(raw)
    if status == CANCELLED:
        return OrderStatus.CANCELLED
    if status in SHIPPED_STATUSES:
        return OrderStatus.SHIPPED
    return OrderStatus.OPEN


def row_code(raw: JSON) -> str | None:
    """The row's product code: the combination's SKU or number, else the product number."""
    return _opt(_text(raw, "sub_sku_number") or _text(raw, "sub_product_number") or _text(raw, "product_number"))


def to_line(raw: Any) -> RemoteOrderLine | None:
    """A row as an order line; None for a row that is not goods (shipping costs, discounts)."""
    if not isinstance(raw, dict):
        raise MappingError(f"order row is not an object: {str(raw)[:80]}")
    row_id = _int(raw, "id", "order row")
    kind = _text(raw, "product_type") or "product"
    if kind not in GOODS:
        return None
    count = raw.get("count")
    if isinstance(count, bool) or not isinstance(count, int | float):
        raise MappingError(f"order row {row_id}: count {count!r} is not a number")
    if count != count or not 0 <= count < 2**31 or count != int(count):
        raise MappingError(f"order row {row_id}: count {count!r} is not a whole number of items")
    combination = any(_text(raw, f) for f in ("sub_sku_number", "sub_ean_number", "sub_product_number"))
    product_id = raw.get("product_id")
    remote_product = None
    if not combination and isinstance(product_id, int) and not isinstance(product_id, bool):
        remote_product = f"p:{product_id}"
    return RemoteOrderLine(
        remote_line_id=str(row_id), sku=row_code(raw), ean=_opt(_text(raw, "sub_ean_number")),
        name=_text(raw, "product_name"), quantity=int(count), unit_price=_money(raw, "price"),
        remote_product_id=remote_product,
    )


def _address(raw: Any) -> Address:
    if raw is None:
        return Address()
    if not isinstance(raw, dict):
        raise MappingError(f"address is not an object: {str(raw)[:80]}")
    name = _text(raw, "full_name") or " ".join(p for p in (_text(raw, "first_name"), _text(raw, "last_name")) if p)
    number = " ".join(p for p in (_text(raw, "housenumber"), _text(raw, "housenumber_suffix")) if p)
    return Address(
        name=name, company=_text(raw, "company"), street=_text(raw, "street"), house_number=number,
        postcode=_text(raw, "zipcode"), city=_text(raw, "city"), country=_text(raw, "country_code").upper(),
        email=_text(raw, "email"), phone=_text(raw, "telephone"),
    )


def order_number(raw: JSON) -> str:
    number = _text(raw, "ordernumber_full") or _text(raw, "ordernumber")
    if not number:
        raise MappingError("order has no order number (not completed in the shop)")
    return number


def to_remote_order(raw: JSON, rows: list[Any]) -> RemoteOrder:
    order_id = _int(raw, "id", "order")
    currency = (_text(raw, "currency") or "EUR").upper()
    if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
        raise MappingError(f"currency {currency!r} is not an ISO 4217 code")
    customer = raw.get("customer")
    if customer is not None and not isinstance(customer, dict):
        raise MappingError("customer is not an object")
    customer = customer or {}
    billing = _address(customer.get("billingaddress"))
    delivery = customer.get("deliveryaddress")
    lines = tuple(line for line in (to_line(r) for r in rows) if line is not None)
    created = parse_timestamp(raw.get("create_date"), "create_date", assume_utc=True)
    return RemoteOrder(
        remote_id=str(order_id), number=order_number(raw), status=order_status(raw),
        created_at=created, updated_at=created, currency=currency, total=_money(raw, "total_price"),
        billing_address=billing, shipping_address=_address(delivery) if delivery else billing,
        lines=lines, raw=raw,
    )


def stock_level(raw: JSON) -> int | None:
    value = raw.get("stock")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return int(value)


def product_uses_combinations(raw: JSON) -> bool:
    return _text(raw, "stocktype") == COMBINATION_STOCK


def to_product(raw: Any) -> RemoteProduct:
    """A product whose stock is its own (``p:<id>``)."""
    if not isinstance(raw, dict):
        raise MappingError(f"product is not an object: {str(raw)[:80]}")
    product_id = _int(raw, "id", "product")
    return RemoteProduct(
        remote_id=f"p:{product_id}", sku=_opt(_text(raw, "productnumber")), ean=_opt(_text(raw, "eannumber")),
        name=_text(raw, "name"), price=_money(raw, "price"), stock=stock_level(raw),
        manages_stock=raw.get("stockenabled") is True,
    )


def to_combination(raw: Any, product: JSON) -> RemoteProduct:
    """An attribute combination with its own stock (``c:<id>``); code: its SKU, else its number."""
    if not isinstance(raw, dict):
        raise MappingError(f"attribute combination is not an object: {str(raw)[:80]}")
    combo_id = _int(raw, "id", "attribute combination")
    return RemoteProduct(
        remote_id=f"c:{combo_id}", sku=_opt(_text(raw, "sku_number") or _text(raw, "product_number")),
        ean=_opt(_text(raw, "ean_number")), name=_text(product, "name"), stock=stock_level(raw),
        manages_stock=product.get("stockenabled") is True and raw.get("active", True) is not False,
    )
