"""WooCommerce JSON ↔ Kade types.

Dates come from the ``*_gmt`` fields only: the plain ``date_*`` fields are store-local wall
time without an offset, and reading them as UTC shifts every order by the store's offset.
Variations are addressed as ``"<product_id>/<variation_id>"`` so a stock push knows which
``/products/<id>/variations/batch`` endpoint to use.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from kade.mapping import MappingError, parse_timestamp
from kade.types import Address, RemoteOrder, RemoteOrderLine, RemoteOrderStatus, RemoteProduct, RemoteStock

CANCELLED_STATUSES = frozenset({"cancelled", "refunded", "failed"})
SHIPPED_STATUSES = frozenset({"completed"})
DEFAULT_IMPORT_STATUSES = ("processing",)


def product_ref(product_id: int, variation_id: int = 0) -> str:
    return f"{product_id}/{variation_id}" if variation_id else str(product_id)


def parse_product_ref(ref: str) -> tuple[int, int]:
    """``"12"`` → (12, 0); ``"12/34"`` → (12, 34)."""
    head, _, tail = ref.partition("/")
    try:
        return int(head), int(tail) if tail else 0
    except ValueError:
        raise MappingError(f"{ref!r} is not a WooCommerce product reference") from None


def parse_gmt(raw: Mapping[str, Any], field: str) -> datetime:
    """A ``*_gmt`` field: ISO 8601 without offset, in UTC."""
    return parse_timestamp(raw.get(field), field)


def format_gmt(when: datetime) -> str:
    """A naive GMT wall time, the form ``modified_after`` expects with ``dates_are_gmt=true``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def order_status(status: str, import_statuses: Iterable[str]) -> RemoteOrderStatus | None:
    """Kade's view of a WooCommerce status; None for orders not (yet) to fulfil (pending, on-hold...)."""
    if status in CANCELLED_STATUSES:
        return RemoteOrderStatus.CANCELLED
    if status in SHIPPED_STATUSES:
        return RemoteOrderStatus.SHIPPED
    if status in set(import_statuses):
        return RemoteOrderStatus.OPEN
    return None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise MappingError(f"{what} is not a whole number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # ASCII digits only: "²".isdigit() is true and "--5".lstrip("-") is "5", but int() refuses both
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    raise MappingError(f"{what} is not a whole number: {value!r}")


def _money(value: Any, what: str) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise MappingError(f"{what} is not an amount: {value!r}") from None
    if not amount.is_finite():
        raise MappingError(f"{what} is not an amount: {value!r}")
    return amount


def _address(block: Any, fallback: Mapping[str, Any] | None = None) -> Address:
    if block is None:
        block = {}
    if not isinstance(block, Mapping):
        raise MappingError(f"address is not an object: {block!r}")
    fallback = fallback or {}

    def text(name: str) -> str:
        value = block.get(name) or fallback.get(name) or ""
        return str(value).strip()

    street = " ".join(part for part in (text("address_1"), str(block.get("address_2") or "").strip()) if part)
    return Address(
        name=" ".join(part for part in (text("first_name"), text("last_name")) if part),
        company=text("company"),
        street=street,
        postcode=text("postcode"),
        city=text("city"),
        country=text("country").upper(),
        email=text("email"),
        phone=text("phone"),
    )


def refunded_quantities(order: Mapping[str, Any], refunds: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """Quantities refunded per original line item id, from ``GET /orders/<id>/refunds``.

    Refund lines point at the original item through the ``_refunded_item_id`` meta; when a
    store hides it, the line is matched on product and variation id instead.
    """
    by_product: dict[tuple[int, int], int] = {}
    for item in order.get("line_items") or []:
        if isinstance(item, Mapping):
            key = (int(item.get("product_id") or 0), int(item.get("variation_id") or 0))
            by_product.setdefault(key, int(item.get("id") or 0))
    out: dict[int, int] = {}
    for refund in refunds:
        for line in refund.get("line_items") or []:
            quantity = abs(_int(line.get("quantity", 0), "refunded quantity"))
            if not quantity:
                continue
            target = next(
                (m.get("value") for m in line.get("meta_data") or [] if m.get("key") == "_refunded_item_id"),
                None,
            )
            if target is not None and str(target).isdigit():
                item_id = int(str(target))
            else:
                item_id = by_product.get((int(line.get("product_id") or 0), int(line.get("variation_id") or 0)), 0)
            if item_id:
                out[item_id] = out.get(item_id, 0) + quantity
    return out


def to_remote_order(
    raw: Mapping[str, Any],
    status: RemoteOrderStatus,
    *,
    refunded: Mapping[int, int] | None = None,
) -> RemoteOrder:
    """One order object from ``GET /orders``; raises ``MappingError`` with the reason."""
    refunded = refunded or {}
    order_id = _int(raw.get("id"), "id")
    items = raw.get("line_items")
    if not isinstance(items, list) or not items:
        raise MappingError("order has no line_items")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise MappingError(f"line_items[{index}] is not an object")
        line_id = _int(item.get("id"), f"line_items[{index}].id")
        quantity = _int(item.get("quantity"), f"line_items[{index}].quantity")
        if quantity < 0:
            raise MappingError(f"line_items[{index}].quantity is negative: {quantity}")
        product_id = _int(item.get("product_id") or 0, f"line_items[{index}].product_id")
        variation_id = _int(item.get("variation_id") or 0, f"line_items[{index}].variation_id")
        if "price" in item and item["price"] is not None:
            price = _money(item["price"], f"line_items[{index}].price")
        else:
            total = _money(item.get("total"), f"line_items[{index}].total")
            price = total / quantity if quantity else Decimal("0")
        sku = str(item.get("sku") or "").strip() or None
        lines.append(
            RemoteOrderLine(
                remote_line_id=str(line_id),
                sku=sku,
                name=str(item.get("name") or ""),
                quantity=quantity,
                quantity_cancelled=min(quantity, refunded.get(line_id, 0)),
                unit_price=price,
                remote_product_id=product_ref(product_id, variation_id) if product_id else None,
            )
        )
    billing = raw.get("billing") if isinstance(raw.get("billing"), Mapping) else {}
    try:
        return RemoteOrder(
            remote_id=str(order_id),
            number=str(raw.get("number") or order_id),
            status=status,
            created_at=parse_gmt(raw, "date_created_gmt"),
            updated_at=parse_gmt(raw, "date_modified_gmt"),
            currency=str(raw.get("currency") or ""),
            total=_money(raw.get("total"), "total"),
            billing_address=_address(raw.get("billing")),
            shipping_address=_address(raw.get("shipping"), fallback=billing),
            lines=tuple(lines),
            raw=dict(raw),
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}".removeprefix(": ") for err in exc.errors()
        )
        raise MappingError(problems) from None


def to_remote_product(raw: Mapping[str, Any], *, parent_id: int = 0, ean_meta_key: str = "") -> RemoteProduct:
    """A simple product, or a variation of ``parent_id``."""
    product_id = _int(raw.get("id"), "id")
    manage = raw.get("manage_stock")
    managed = manage is True
    stock = raw.get("stock_quantity")
    price = raw.get("price")
    return RemoteProduct(
        remote_id=product_ref(parent_id, product_id) if parent_id else str(product_id),
        sku=str(raw.get("sku") or "").strip() or None,
        ean=ean_of(raw, ean_meta_key),
        name=str(raw.get("name") or ""),
        price=_money(price, "price") if price not in (None, "") else None,
        stock=_int(stock, "stock_quantity") if managed and stock is not None else None,
        manages_stock=managed,
    )


def to_remote_stock(product: RemoteProduct) -> RemoteStock:
    return RemoteStock(
        remote_product_id=product.remote_id,
        sku=product.sku,
        ean=product.ean,
        quantity=product.stock,
    )


def ean_of(raw: Mapping[str, Any], meta_key: str = "") -> str | None:
    """WooCommerce 9.2+ ``global_unique_id``, else a barcode plugin's meta field."""
    value = str(raw.get("global_unique_id") or "").strip()
    if not value and meta_key:
        for meta in raw.get("meta_data") or []:
            if isinstance(meta, Mapping) and meta.get("key") == meta_key and meta.get("value"):
                value = str(meta["value"]).strip()
                break
    return value or None
