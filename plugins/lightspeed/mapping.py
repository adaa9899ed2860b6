"""Lightspeed records → Kade's typed objects.

Order products carry the variant (the one reliable key), and SKU, EAN and article code, which
shops often leave empty: empty strings become None, and the product code is the SKU or, per the
``product_code`` setting, the article code. Matching then follows the core's rule (R6).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from kade.mapping import MappingError, parse_timestamp
from kade.types import Address, RemoteOrder, RemoteOrderLine, RemoteOrderStatus, RemoteProduct, RemoteStock

JSON = dict[str, Any]
SHIPPED_STATUSES = frozenset({"completed_shipped", "completed_picked_up"})
PRODUCT_CODES = ("sku", "article_code", "sku_then_article_code")


def _text(raw: JSON, name: str) -> str:
    value = raw.get(name)
    return value.strip() if isinstance(value, str) else ""


def _opt(value: str) -> str | None:
    return value or None


def _money(raw: JSON, name: str) -> Decimal:
    value = raw.get(name, "0")
    try:
        return Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise MappingError(f"{name} {value!r} is not an amount") from None


def resource_id(raw: JSON, name: str) -> int | None:
    """The id in ``{"<name>": {"resource": {"id": ...}}}`` (False or missing: None)."""
    ref = raw.get(name)
    inner = ref.get("resource") if isinstance(ref, dict) else None
    rid = inner.get("id") if isinstance(inner, dict) else None
    if isinstance(rid, bool) or rid is None:
        return None
    if not isinstance(rid, int):
        raise MappingError(f"{name}.resource.id {rid!r} is not a number")
    return rid


def order_status(raw: JSON) -> RemoteOrderStatus:
    status = _text(raw, "status")
    if status == "cancelled":
        return RemoteOrderStatus.CANCELLED
    if status in SHIPPED_STATUSES or _text(raw, "shipmentStatus") == "shipped":
        return RemoteOrderStatus.SHIPPED
    return RemoteOrderStatus.OPEN


def product_code(raw: JSON, mode: str) -> str | None:
    sku, article = _text(raw, "sku"), _text(raw, "articleCode")
    if mode == "sku":
        return _opt(sku)
    if mode == "article_code":
        return _opt(article)
    return _opt(sku or article)


def to_line(raw: Any, mode: str) -> RemoteOrderLine:
    if not isinstance(raw, dict):
        raise MappingError(f"order product is not an object: {str(raw)[:80]}")
    line_id = raw.get("id")
    if not isinstance(line_id, int) or isinstance(line_id, bool):
        raise MappingError(f"order product id {line_id!r} is not a number")
    quantity = raw.get("quantityOrdered")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise MappingError(f"order product {line_id}: quantityOrdered {quantity!r} is not a whole number ≥ 0")
    shipped = raw.get("quantityShipped") or 0
    refunded = raw.get("quantityRefunded") or 0
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (shipped, refunded)):
        raise MappingError(f"order product {line_id}: shipped/refunded quantities are not whole numbers")
    variant = resource_id(raw, "variant")
    name = " - ".join(p for p in (_text(raw, "productTitle"), _text(raw, "variantTitle")) if p)
    return RemoteOrderLine(
        remote_line_id=str(line_id), sku=product_code(raw, mode), ean=_opt(_text(raw, "ean")), name=name,
        quantity=quantity, quantity_cancelled=min(quantity, refunded), quantity_shipped=min(quantity, shipped),
        unit_price=_money(raw, "priceIncl"), remote_product_id=str(variant) if variant is not None else None,
    )


def _address(raw: JSON, kind: str) -> Address:
    country = raw.get(f"address{kind}Country")
    number = " ".join(p for p in (_text(raw, f"address{kind}Number"), _text(raw, f"address{kind}Extension")) if p)
    return Address(
        name=_text(raw, f"address{kind}Name"), company=_text(raw, "companyName"),
        street=_text(raw, f"address{kind}Street"), house_number=number, postcode=_text(raw, f"address{kind}Zipcode"),
        city=_text(raw, f"address{kind}City"),
        country=(str(country.get("code") or "").upper() if isinstance(country, dict) else ""),
        email=_text(raw, "email"), phone=_text(raw, "phone"),
    )


def to_remote_order(raw: JSON, products: list[Any], mode: str) -> RemoteOrder:
    order_id = raw.get("id")
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise MappingError(f"order id {order_id!r} is not a number")
    number = _text(raw, "number")
    if not number:
        raise MappingError("order number is missing")
    currency = _text(raw, "currency").upper() or "EUR"
    if len(currency) != 3 or not currency.isalpha():
        raise MappingError(f"currency {currency!r} is not an ISO 4217 code")
    return RemoteOrder(
        remote_id=str(order_id), number=number, status=order_status(raw),
        created_at=parse_timestamp(raw.get("createdAt"), "createdAt", assume_utc=False),
        updated_at=parse_timestamp(raw.get("updatedAt"), "updatedAt", assume_utc=False),
        currency=currency, total=_money(raw, "priceIncl"),
        billing_address=_address(raw, "Billing"), shipping_address=_address(raw, "Shipping"),
        lines=tuple(to_line(p, mode) for p in products), raw=raw,
    )


def tracks_stock(raw: JSON) -> bool:
    return _text(raw, "stockTracking") == "enabled"


def to_remote_product(raw: Any, mode: str) -> RemoteProduct:
    if not isinstance(raw, dict):
        raise MappingError(f"variant is not an object: {str(raw)[:80]}")
    vid = raw.get("id")
    if not isinstance(vid, int) or isinstance(vid, bool):
        raise MappingError(f"variant id {vid!r} is not a number")
    level = raw.get("stockLevel")
    return RemoteProduct(
        remote_id=str(vid), sku=product_code(raw, mode), ean=_opt(_text(raw, "ean")), name=_text(raw, "title"),
        price=_money(raw, "priceIncl"), stock=level if isinstance(level, int) and not isinstance(level, bool) else None,
        manages_stock=tracks_stock(raw),
    )


def to_remote_stock(product: RemoteProduct) -> RemoteStock:
    return RemoteStock(remote_product_id=product.remote_id, sku=product.sku, ean=product.ean,
                       quantity=product.stock if product.manages_stock else None)
