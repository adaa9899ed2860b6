"""Shopware records ↔ Kade's types, and the Criteria Kade searches with.

What counts, per the platform notes (§3): the order's state ``cancelled`` is a cancellation; a
primary delivery in ``shipped`` means the shop shipped it itself; ``shipped_partially`` keeps the
order open. Line items of type ``product`` are what the warehouse ships (promotions, credits and
custom items are not goods); the SKU is the product's ``productNumber``, read from the
``lineItems.product`` association (the ``payload.productNumber`` key is the fallback).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from kade.mapping import MappingError, parse_timestamp
from kade.types import Address, RemoteOrder, RemoteOrderLine, RemoteOrderStatus, RemoteProduct, RemoteStock

#: what an order search loads; without ``stateMachineState`` the states are null on 6.6
ORDER_ASSOCIATIONS: dict[str, Any] = {
    "stateMachineState": {},
    "lineItems": {"associations": {"product": {}}},
    "deliveries": {"associations": {"stateMachineState": {}, "shippingOrderAddress": {"associations": {
        "country": {}}}}},
    "transactions": {"associations": {"stateMachineState": {}}},
    "orderCustomer": {},
    "currency": {},
    "billingAddress": {"associations": {"country": {}}},
}
OPEN_STATES = ("open", "in_progress")
SKU_FIELD = "productNumber"


def shopware_time(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def order_criteria(*, page: int, limit: int, since: datetime | None = None,
                   ids: list[str] | None = None) -> dict[str, Any]:
    """Orders changed since ``since`` (first import: every open one), oldest first.

    ``updatedAt`` stays null until an order is first changed, so "changed since" is
    ``updatedAt >= since OR createdAt >= since``.
    """
    filters: list[dict[str, Any]] = []
    if since is not None:
        bound = {"gte": shopware_time(since)}
        filters.append({"type": "multi", "operator": "or", "queries": [
            {"type": "range", "field": "updatedAt", "parameters": bound},
            {"type": "range", "field": "createdAt", "parameters": bound},
        ]})
    elif ids is None:
        filters.append({"type": "equalsAny", "field": "stateMachineState.technicalName", "value": list(OPEN_STATES)})
    criteria: dict[str, Any] = {
        "page": page, "limit": limit, "filter": filters,
        "sort": [{"field": "createdAt", "order": "ASC"}, {"field": "id", "order": "ASC"}],
        "associations": ORDER_ASSOCIATIONS, "total-count-mode": "exact",
    }
    if ids is not None:
        criteria["ids"] = ids
    return criteria


def product_criteria(*, page: int, limit: int, ids: list[str] | None = None) -> dict[str, Any]:
    criteria: dict[str, Any] = {"page": page, "limit": limit, "sort": [{"field": "id", "order": "ASC"}],
                                "total-count-mode": "exact"}
    if ids is not None:
        criteria["ids"] = ids
    return criteria


def _state(record: dict[str, Any] | None, what: str) -> str:
    state = record.get("stateMachineState") if isinstance(record, dict) else None
    name = state.get("technicalName") if isinstance(state, dict) else None
    if not isinstance(name, str) or not name:
        raise MappingError(f"{what} has no stateMachineState (was the association requested?)")
    return name


def primary_delivery(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The delivery Kade reports to: ``primaryOrderDeliveryId`` (6.7), else the first one."""
    deliveries = [d for d in raw.get("deliveries") or [] if isinstance(d, dict)]
    primary = raw.get("primaryOrderDeliveryId")
    return next((d for d in deliveries if d.get("id") == primary), deliveries[0] if deliveries else None)


def order_status(raw: dict[str, Any]) -> RemoteOrderStatus:
    if _state(raw, "order") == "cancelled":
        return RemoteOrderStatus.CANCELLED
    delivery = primary_delivery(raw)
    if delivery is not None and _state(delivery, "delivery") == "shipped":
        return RemoteOrderStatus.SHIPPED
    return RemoteOrderStatus.OPEN


def delivery_state(delivery: dict[str, Any]) -> str:
    return _state(delivery, "delivery")


def order_state(raw: dict[str, Any]) -> str:
    return _state(raw, "order")


def _obj(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _decimal(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise MappingError(f"{what} {value!r} is not a number") from None


def _address(raw: Any, email: str = "") -> Address:
    if not isinstance(raw, dict):
        return Address(email=email)
    country = _obj(raw, "country")
    name = " ".join(str(p) for p in (raw.get("firstName"), raw.get("lastName")) if p)
    return Address(name=name, company=str(raw.get("company") or ""), street=str(raw.get("street") or ""),
                   postcode=str(raw.get("zipcode") or ""), city=str(raw.get("city") or ""),
                   country=str(country.get("iso") or ""), phone=str(raw.get("phoneNumber") or ""), email=email)


def _line(raw: Any) -> RemoteOrderLine | None:
    if not isinstance(raw, dict):
        raise MappingError(f"line item is not an object: {raw!r}")
    if raw.get("type") != "product" or raw.get("good") is False:
        return None
    line_id = raw.get("id")
    if not isinstance(line_id, str) or not line_id:
        raise MappingError("a line item has no id")
    quantity = raw.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise MappingError(f"line item {line_id} has quantity {quantity!r}")
    product = _obj(raw, "product")
    payload = _obj(raw, "payload")
    sku = product.get("productNumber") or payload.get("productNumber")
    ean = product.get("ean")
    return RemoteOrderLine(
        remote_line_id=line_id, sku=str(sku) if sku else None, ean=str(ean) if ean else None,
        name=str(raw.get("label") or ""), quantity=quantity,
        unit_price=_decimal(raw.get("unitPrice"), f"line item {line_id} unitPrice"),
        remote_product_id=str(raw["productId"]) if raw.get("productId") else None,
    )


def to_remote_order(raw: dict[str, Any]) -> RemoteOrder:
    order_id = raw.get("id")
    if not isinstance(order_id, str) or not order_id:
        raise MappingError("order has no id")
    number = raw.get("orderNumber")
    if not isinstance(number, str) or not number:
        raise MappingError(f"order {order_id} has no orderNumber")
    created = parse_timestamp(raw.get("orderDateTime") or raw.get("createdAt"), "orderDateTime", assume_utc=False)
    updated_raw = raw.get("updatedAt") or raw.get("createdAt")
    updated = parse_timestamp(updated_raw, "updatedAt", assume_utc=False) if updated_raw else created
    items = raw.get("lineItems")
    if not isinstance(items, list):
        raise MappingError(f"order {number} has no lineItems (was the association requested?)")
    lines = tuple(line for line in (_line(item) for item in items) if line is not None)
    currency = raw.get("currency")
    iso = currency.get("isoCode") if isinstance(currency, dict) else None
    if not isinstance(iso, str):
        raise MappingError(f"order {number} has no currency.isoCode")
    customer = _obj(raw, "orderCustomer")
    email = str(customer.get("email") or "")
    delivery = primary_delivery(raw)
    try:
        return RemoteOrder(
            remote_id=order_id, number=number, status=order_status(raw), created_at=created, updated_at=updated,
            currency=iso.upper(), total=_decimal(raw.get("amountTotal"), f"order {number} amountTotal"),
            billing_address=_address(raw.get("billingAddress"), email),
            shipping_address=_address(delivery.get("shippingOrderAddress") if delivery else None, email),
            lines=lines, raw=raw,
        )
    except ValidationError as exc:  # pydantic validation (currency code, negative numbers...)
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"order {number}: {reasons}") from None


def manages_stock(raw: dict[str, Any]) -> bool:
    """Parents of variants hold no stock of their own; Kade manages the variants."""
    return not raw.get("childCount")


def to_remote_product(raw: dict[str, Any]) -> RemoteProduct:
    product_id = raw.get("id")
    if not isinstance(product_id, str) or not product_id:
        raise MappingError("product has no id")
    stock = raw.get("stock")
    if stock is not None and (not isinstance(stock, int) or isinstance(stock, bool)):
        raise MappingError(f"product {product_id} has stock {stock!r}")
    number = raw.get("productNumber")
    return RemoteProduct(remote_id=product_id, sku=str(number) if number else None,
                         ean=str(raw["ean"]) if raw.get("ean") else None, name=str(raw.get("name") or ""),
                         stock=stock, manages_stock=manages_stock(raw))


def to_remote_stock(product: RemoteProduct) -> RemoteStock:
    return RemoteStock(remote_product_id=product.remote_id, sku=product.sku, ean=product.ean, quantity=product.stock)
