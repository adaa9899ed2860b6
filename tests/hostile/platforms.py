"""The platforms the hostile-input suite runs against: one small entry each.

An entry says how the platform's store writes a valid order (``good``), which mapping function
the plugin's ``import_orders`` runs on each record (``translate``), which exceptions that loop
turns into a quarantined ``RejectedRecord`` (``refusals``) and the id it quarantines under. The
suite then corrupts the payloads generically (any field, any depth) — see docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kade.mapping import MappingError
from kade.types import RemoteOrder


@dataclass(frozen=True)
class HostileEntry:
    platform: str
    #: a valid store order payload; ``n`` makes its ids unique, ``lines`` is its number of lines
    good: Callable[[int, int], dict[str, Any]]
    #: the plugin's translation of one payload; None when the plugin skips it by design
    translate: Callable[[dict[str, Any]], RemoteOrder | None]
    #: the id the plugin's import loop gives a refused payload
    remote_id: Callable[[Any], str]
    #: what the plugin's import loop catches and turns into a RejectedRecord
    refusals: tuple[type[BaseException], ...] = (MappingError,)


def _ts(n: int) -> str:
    return f"2026-01-01T{10 + n // 60 % 10:02d}:{n % 60:02d}:00"


# ------------------------------------------------------------------------------------------ bol


def bol_good(n: int, lines: int) -> dict[str, Any]:
    return {
        "orderId": f"B{n}",
        "orderPlacedDateTime": _ts(n) + "+01:00",
        "shipmentDetails": {"firstName": "Anna", "surname": "Kade", "streetName": "Kade", "houseNumber": "1",
                            "zipCode": "1011AA", "city": "Amsterdam", "countryCode": "NL"},
        "billingDetails": {"firstName": "Anna", "surname": "Kade"},
        "orderItems": [
            {"orderItemId": f"B{n}-{i}", "quantity": 2, "quantityShipped": 0, "quantityCancelled": 0,
             "unitPrice": 9.95, "totalPrice": 19.9, "fulfilment": {"method": "FBR"},
             "product": {"ean": f"87{n:05d}{i:04d}", "title": "Mug"},
             "offer": {"reference": f"SKU-{i}", "offerId": f"offer-{i}"},
             "latestChangedDateTime": _ts(n) + "+01:00"}
            for i in range(lines)
        ],
    }


def bol_translate(raw: dict[str, Any]) -> RemoteOrder:
    from kade.plugins.bol.mapping import order_from_detail

    return order_from_detail(raw)


# ------------------------------------------------------------------------------------- shopify


def shopify_good(n: int, lines: int) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Order/{5000 + n}", "name": f"#{5000 + n}",
        "createdAt": _ts(n) + "Z", "updatedAt": _ts(n) + "Z", "cancelledAt": None,
        "displayFulfillmentStatus": "UNFULFILLED", "currencyCode": "EUR", "email": "a@example.com", "phone": None,
        "totalPriceSet": {"shopMoney": {"amount": "9.00", "currencyCode": "EUR"}},
        "billingAddress": None,
        "shippingAddress": {"firstName": "Anna", "lastName": "de Vries", "address1": "Kade 1", "zip": "1011AA"},
        "lineItems": {"nodes": [
            {"id": f"gid://shopify/LineItem/{n * 1000 + i}", "sku": f"SKU-{i}", "name": "Mug",
             "quantity": 2, "currentQuantity": 2, "unfulfilledQuantity": 2,
             "originalUnitPriceSet": {"shopMoney": {"amount": "4.50"}},
             "variant": {"id": f"gid://shopify/ProductVariant/{i}", "barcode": f"871{i:05d}",
                         "inventoryItem": {"id": f"gid://shopify/InventoryItem/{i}"}}}
            for i in range(lines)
        ], "pageInfo": {"hasNextPage": False}},
    }


def shopify_translate(raw: dict[str, Any]) -> RemoteOrder:
    from kade.plugins.shopify.mapping import line_nodes, order_from_node

    return order_from_node(raw, line_nodes(raw))  # as import_orders does


def _node_id(raw: Any) -> str:
    return str((raw.get("id") or raw.get("name") or "unknown") if isinstance(raw, dict) else "unknown")


# --------------------------------------------------------------------------------- woocommerce


def woo_good(n: int, lines: int) -> dict[str, Any]:
    return {
        "id": 7000 + n, "number": str(7000 + n), "status": "processing", "currency": "EUR", "total": "19.90",
        "date_created_gmt": _ts(n), "date_modified_gmt": _ts(n),
        "billing": {"first_name": "Anna", "last_name": "Kade", "email": "a@example.com", "country": "nl"},
        "shipping": {"first_name": "Anna", "last_name": "Kade", "address_1": "Kade 1", "city": "Amsterdam"},
        "line_items": [
            {"id": n * 1000 + i, "product_id": 10 + i, "variation_id": 0, "quantity": 2, "price": 9.95,
             "total": "19.90", "sku": f"SKU-{i}", "name": "Mug"}
            for i in range(lines)
        ],
    }


def woo_translate(raw: dict[str, Any]) -> RemoteOrder | None:
    from kade.plugins.woocommerce.mapping import DEFAULT_IMPORT_STATUSES, order_status, to_remote_order

    status = order_status(str(raw.get("status") or ""), DEFAULT_IMPORT_STATUSES)
    if status is None:
        return None  # not an order to fulfil (pending payment, on hold...): skipped, as the plugin does
    return to_remote_order(raw, status)


# ----------------------------------------------------------------------------------------- ccv


def ccv_good(n: int, lines: int) -> dict[str, Any]:
    """An order as ``GET orders/{id}/`` sends it, its rows (``GET orders/{id}/orderrows/``) embedded."""
    return {
        "id": 9000 + n, "ordernumber": 2026000 + n, "ordernumber_full": f"{2026000 + n}", "create_date": _ts(n) + "Z",
        "status": 1, "paid": True, "is_completed": True, "currency": "EUR", "total_price": 19.9,
        "customer": {"email": "a@example.com",
                     "billingaddress": {"first_name": "Anna", "last_name": "Kade", "street": "Kade",
                                        "housenumber": 1, "zipcode": "1011AA", "city": "Amsterdam",
                                        "country_code": "NL"}},
        "orderrows": {"items": [
            {"id": n * 1000 + i, "order_id": 9000 + n, "product_type": "product", "product_id": 10 + i,
             "product_name": "Mug", "product_number": f"SKU-{i}", "sub_sku_number": f"SKU-{i}-RED" if i % 2 else None,
             "sub_ean_number": None, "sub_product_number": None, "count": 2.0, "price": 9.95}
            for i in range(lines)
        ]},
    }


def ccv_translate(raw: dict[str, Any]) -> RemoteOrder | None:
    from kade.plugins.ccv.mapping import order_status, to_remote_order
    from kade.types import OrderStatus

    status = order_status(raw)
    if status is OrderStatus.OPEN and raw.get("paid") is not True:
        return None  # unpaid: skipped until paid, as the plugin does
    if not isinstance(raw.get("id"), int) or isinstance(raw.get("id"), bool):
        raise MappingError(f"order id {raw.get('id')!r} is not a number")
    rows = raw.get("orderrows")
    items = rows.get("items") if isinstance(rows, dict) else None
    if not isinstance(items, list):  # the plugin's client refuses a rows answer without items
        raise MappingError("order rows answer has no items list")
    return to_remote_order(raw, items)


ENTRIES: tuple[HostileEntry, ...] = (
    HostileEntry("bol", bol_good, bol_translate, lambda raw: str(raw.get("orderId")) if isinstance(raw, dict) else "?"),
    HostileEntry("shopify", shopify_good, shopify_translate, _node_id, refusals=(ValueError, TypeError, KeyError)),
    HostileEntry("woocommerce", woo_good, woo_translate,
                 lambda raw: str(raw.get("id", "?")) if isinstance(raw, dict) else "?"),
    HostileEntry("ccv", ccv_good, ccv_translate, lambda raw: str(raw.get("id", "?")) if isinstance(raw, dict) else "?",
                 refusals=(MappingError, ValueError)),
)
