"""What crosses the plugin boundary, checked against what Kade's schema can hold.

A plugin's typed order can still be unstorable: an id longer than its column, a quantity past
PostgreSQL's ``integer``, a price past ``numeric(14, 4)``, a NUL byte or a lone surrogate that
PostgreSQL refuses in text, a timestamp that overflows when converted to UTC. SQLite would take
most of these and PostgreSQL would fail the whole page, so the limits here are Kade's, derived
from the models, and the same on every backend and for every platform. The ingest applies them
to each order before it writes, the catalogue link to each store product; a record that
fails is quarantined with the reason returned here.
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kade.models import MONEY, Order, OrderLine, Product, ProductLink, Quarantine
from kade.types import Address, RemoteOrder, RemoteOrderLine, RemoteProduct

#: PostgreSQL ``integer`` (every quantity column)
INT_MAX = 2**31 - 1
#: the largest amount ``numeric(14, 4)`` holds, exclusive
MONEY_LIMIT = Decimal(10) ** ((MONEY.precision or 14) - (MONEY.scale or 4))
MONEY_QUANTUM = Decimal(1).scaleb(-(MONEY.scale or 4))
#: nesting kept of a stored raw payload; deeper parts are replaced by a marker
RAW_DEPTH = 64


def _length(column: Any) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), f"{column} has no length"
    return length


ORDER_REMOTE_ID = _length(Order.__table__.c.remote_id)  # type: ignore[attr-defined]
ORDER_NUMBER = _length(Order.__table__.c.number)  # type: ignore[attr-defined]
LINE_ID = _length(OrderLine.__table__.c.remote_line_id)  # type: ignore[attr-defined]
SKU = _length(OrderLine.__table__.c.sku)  # type: ignore[attr-defined]
EAN = _length(OrderLine.__table__.c.ean)  # type: ignore[attr-defined]
NAME = _length(OrderLine.__table__.c.name)  # type: ignore[attr-defined]
PRODUCT_ID = _length(ProductLink.__table__.c.remote_id)  # type: ignore[attr-defined]
PRODUCT_SKU = _length(ProductLink.__table__.c.remote_sku)  # type: ignore[attr-defined]
PRODUCT_EAN = _length(ProductLink.__table__.c.remote_ean)  # type: ignore[attr-defined]
PRODUCT_NAME = _length(Product.__table__.c.name)  # type: ignore[attr-defined]
QUARANTINE_ID = _length(Quarantine.__table__.c.remote_id)  # type: ignore[attr-defined]


def text_problem(value: str) -> str | None:
    """Why PostgreSQL would refuse ``value`` as text; None when it is fine."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def scrub(value: str) -> str:
    """``value`` with NUL characters and lone surrogates replaced by U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in value.replace("\x00", "\ufffd"))


def clean_json(value: Any, depth: int = 0) -> Any:
    """A copy of a store payload every backend stores: text scrubbed, NaN and Infinity as text,
    nesting cut at ``RAW_DEPTH`` (the raw copy is for people reading it, not for the core)."""
    if depth > RAW_DEPTH:
        return "(nested too deep to keep)"
    if isinstance(value, str):
        return scrub(value) if text_problem(value) else value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {clean_json(str(k), depth + 1): clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [clean_json(v, depth + 1) for v in value]
    return clean_json(str(value), depth + 1)


def quarantine_key(remote_id: object) -> str:
    """The id a refused record is kept under: storable, and distinct for distinct long ids."""
    text = scrub(str(remote_id)) if text_problem(str(remote_id)) else str(remote_id)
    text = text or "(no id)"
    if len(text) <= QUARANTINE_ID:
        return text
    tail = hashlib.sha256(str(remote_id).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{text[: QUARANTINE_ID - 17]}~{tail}"


def _check_text(value: str | None, what: str, limit: int | None) -> str | None:
    if value is None:
        return None
    problem = text_problem(value)
    if problem is not None:
        return f"{what} {problem}"
    if limit is not None and len(value) > limit:
        return f"{what} is {len(value)} characters long; Kade keeps at most {limit}"
    return None


def _check_count(value: int, what: str) -> str | None:
    if value > INT_MAX:
        return f"{what} {value} is larger than Kade can store ({INT_MAX})"
    return None


def _check_money(value: Decimal, what: str) -> str | None:
    if not value.is_finite():
        return f"{what} {value} is not a finite amount"
    if abs(value) >= MONEY_LIMIT:
        return f"{what} {value} is too large (Kade stores amounts below {MONEY_LIMIT:,})"
    return None


def _check_time(value: datetime, what: str) -> str | None:
    if value.tzinfo is None or value.utcoffset() is None:
        return f"{what} {value.isoformat()} has no UTC offset"
    try:
        value.astimezone(UTC)
    except OverflowError:
        return f"{what} {value.isoformat()} is outside the dates Kade can store once converted to UTC"
    return None


def _check_address(address: Address, what: str) -> str | None:
    for name, value in address.model_dump().items():
        problem = text_problem(value)
        if problem is not None:
            return f"{what}.{name} {problem}"
    return None


def _check_line(line: RemoteOrderLine) -> str | None:
    what = f"line {quarantine_key(line.remote_line_id)}"
    checks = (
        _check_text(line.remote_line_id, "line id", LINE_ID),
        _check_text(line.sku, f"{what}: SKU", SKU),
        _check_text(line.ean, f"{what}: barcode", EAN),
        _check_text(line.remote_product_id, f"{what}: product id", PRODUCT_ID),
        _check_text(line.name, f"{what}: name", None),
        _check_count(line.quantity, f"{what}: quantity"),
        _check_count(line.quantity_cancelled, f"{what}: cancelled quantity"),
        _check_count(line.quantity_shipped, f"{what}: shipped quantity"),
        _check_money(line.unit_price, f"{what}: unit price"),
    )
    return next((c for c in checks if c is not None), None)


def check_order(order: RemoteOrder) -> str | None:
    """Why ``order`` cannot be stored as it is; None when every field fits the schema."""
    checks = (
        _check_text(order.remote_id, "order id", ORDER_REMOTE_ID),
        _check_text(order.number, "order number", ORDER_NUMBER),
        _check_money(order.total, "order total"),
        _check_time(order.created_at, "created_at"),
        _check_time(order.updated_at, "updated_at"),
        _check_address(order.billing_address, "billing address"),
        _check_address(order.shipping_address, "shipping address"),
    )
    problem = next((c for c in checks if c is not None), None)
    if problem is not None:
        return problem
    for line in order.lines:
        problem = _check_line(line)
        if problem is not None:
            return problem
    return None


def fit(order: RemoteOrder) -> RemoteOrder:
    """``order`` shaped to the columns where shaping loses nothing that matters: amounts rounded
    to the stored scale (WooCommerce sends ``8.264462809917354``), names cut to their column."""
    lines = tuple(
        line.model_copy(update={"unit_price": line.unit_price.quantize(MONEY_QUANTUM), "name": line.name[:NAME]})
        for line in order.lines
    )
    return order.model_copy(update={"total": order.total.quantize(MONEY_QUANTUM), "lines": lines,
                                    "raw": clean_json(order.raw)})


def _check_stock(value: int | None) -> str | None:
    if value is not None and abs(value) > INT_MAX:
        return f"stock {value} is outside what Kade can store (±{INT_MAX})"
    return None


def check_product(product: RemoteProduct) -> str | None:
    """Why a store's catalogue product cannot be stored as it is; None when every field fits.

    Its SKU and barcode become a warehouse product's and a link's, so they get the columns'
    limits; a warehouse product made from a link gets its price, so the price gets the money one.
    """
    checks = (
        _check_text(product.remote_id, "product id", PRODUCT_ID),
        _check_text(product.sku, "SKU", min(PRODUCT_SKU, SKU)),
        _check_text(product.ean, "barcode", PRODUCT_EAN),
        _check_text(product.name, "name", None),
        _check_money(product.price, "price") if product.price is not None else None,
        _check_stock(product.stock),
    )
    return next((c for c in checks if c is not None), None)


def fit_product(product: RemoteProduct) -> RemoteProduct:
    """``product`` shaped like ``fit`` shapes an order: price rounded to the stored scale, name cut."""
    price = product.price.quantize(MONEY_QUANTUM) if product.price is not None else None
    return product.model_copy(update={"price": price, "name": product.name[:PRODUCT_NAME]})
