"""Entities as the Admin API serialises them with ``Accept: application/json``.

An association is rendered only when the Criteria asked for it; otherwise it is ``null``, as
Shopware 6.6 does (the known trap: a delivery's ``stateMachineState`` is null unless requested).
``ASSOCIATIONS`` lists what the simulator can load; asking for anything else is a clear 400.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from kade.plugins.shopware.simulator.errors import JSON
from kade.plugins.shopware.simulator.machines import DELIVERY, ORDER, TRANSACTION, Machine
from kade.plugins.shopware.simulator.state import (
    LIVE_VERSION,
    Address,
    Delivery,
    LineItem,
    Order,
    Product,
    Transaction,
    stamp,
    state_id,
)

Assoc = dict[str, Any]

#: entity → association → the entity it leads to (what nested associations may ask for)
ASSOCIATIONS: dict[str, dict[str, str]] = {
    "order": {"lineItems": "order_line_item", "deliveries": "order_delivery", "transactions": "order_transaction",
              "stateMachineState": "state_machine_state", "orderCustomer": "order_customer", "currency": "currency",
              "billingAddress": "order_address"},
    "order_line_item": {"product": "product"},
    "order_delivery": {"stateMachineState": "state_machine_state", "shippingOrderAddress": "order_address"},
    "order_transaction": {"stateMachineState": "state_machine_state"},
    "order_address": {"country": "country"},
    "product": {},
    "state_machine_state": {},
    "order_customer": {},
    "currency": {},
    "country": {},
}

_ROUNDING = {"decimals": 2, "interval": 0.01, "roundForNet": True}
_SALES_CHANNEL = uuid.uuid5(uuid.NAMESPACE_URL, "shopware:sales-channel").hex
_LANGUAGE = uuid.uuid5(uuid.NAMESPACE_URL, "shopware:language").hex
_MACHINE_IDS = {m.technical_name: uuid.uuid5(uuid.NAMESPACE_URL, m.technical_name).hex
                for m in (ORDER, DELIVERY, TRANSACTION)}


def currency_id(iso: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"shopware:currency:{iso}").hex


def _money(value: Decimal) -> float:
    return float(value)


def _sub(assoc: Assoc | None, name: str) -> Assoc | None:
    """The nested criteria of an association, or None when it was not requested."""
    if assoc is None or name not in assoc:
        return None
    nested = assoc[name]
    if not isinstance(nested, dict):
        return {}
    return dict(nested.get("associations") or {})


def render_state(machine: Machine, name: str) -> JSON:
    return {"id": state_id(machine, name), "technicalName": name, "name": name.replace("_", " ").title(),
            "stateMachineId": _MACHINE_IDS[machine.technical_name]}


def render_product(p: Product) -> JSON:
    return {
        "id": p.id, "versionId": LIVE_VERSION, "parentId": p.parent_id, "productNumber": p.product_number,
        "name": p.name, "stock": p.stock, "availableStock": p.stock, "ean": p.ean, "active": p.active,
        "childCount": p.child_count, "taxId": p.tax_id,
        "price": None if p.parent_id else [{"currencyId": currency_id("EUR"), "gross": _money(p.gross),
                                            "net": _money(p.gross / Decimal("1.21")), "linked": True}],
        "createdAt": stamp(p.created_at), "updatedAt": stamp(p.updated_at),
    }


def _country(iso: str) -> JSON:
    return {"id": uuid.uuid5(uuid.NAMESPACE_URL, f"shopware:country:{iso}").hex, "iso": iso,
            "name": {"NL": "Netherlands", "BE": "Belgium", "DE": "Germany"}.get(iso, iso), "addressFormat": {}}


def render_address(a: Address, order_id: str, assoc: Assoc | None) -> JSON:
    country = _country(a.country_iso)
    return {"id": a.id, "versionId": LIVE_VERSION, "orderId": order_id, "countryId": country["id"],
            "firstName": a.first_name, "lastName": a.last_name, "street": a.street, "zipcode": a.zipcode,
            "city": a.city, "company": a.company, "phoneNumber": a.phone,
            "country": country if _sub(assoc, "country") is not None else None}


def render_line_item(li: LineItem, order: Order, assoc: Assoc | None) -> JSON:
    product = li.product
    payload: JSON = {"productNumber": product.product_number} if product is not None else {}
    return {
        "id": li.id, "versionId": LIVE_VERSION, "orderId": order.id, "productId": product.id if product else None,
        "referencedId": product.id if product else None, "identifier": product.id if product else li.id,
        "type": li.type, "good": li.good, "quantity": li.quantity, "label": li.label, "payload": payload,
        "children": [], "states": ["is-physical"] if li.good else [],
        "unitPrice": _money(li.unit_price), "totalPrice": _money(li.unit_price * li.quantity),
        "price": {"unitPrice": _money(li.unit_price), "totalPrice": _money(li.unit_price * li.quantity),
                  "quantity": li.quantity, "calculatedTaxes": {}, "taxRules": {}},
        "product": render_product(product) if product is not None and _sub(assoc, "product") is not None else None,
    }


def render_delivery(d: Delivery, order: Order, assoc: Assoc | None) -> JSON:
    ship = _sub(assoc, "shippingOrderAddress")
    return {
        "id": d.id, "versionId": LIVE_VERSION, "orderId": order.id, "orderVersionId": LIVE_VERSION,
        "shippingOrderAddressId": d.address.id, "shippingMethodId": d.shipping_method_id,
        "stateId": state_id(DELIVERY, d.state), "trackingCodes": list(d.tracking_codes),
        "customFields": dict(d.custom_fields) or None,
        "shippingDateEarliest": stamp(order.order_date_time), "shippingDateLatest": stamp(order.order_date_time),
        "shippingCosts": {"unitPrice": 0.0, "totalPrice": 0.0, "quantity": 1},
        "stateMachineState": render_state(DELIVERY, d.state) if _sub(assoc, "stateMachineState") is not None
        else None,
        "shippingOrderAddress": render_address(d.address, order.id, ship) if ship is not None else None,
        "updatedAt": stamp(d.updated_at),
    }


def render_transaction(t: Transaction, order: Order, assoc: Assoc | None) -> JSON:
    return {"id": t.id, "versionId": LIVE_VERSION, "orderId": order.id, "paymentMethodId": t.payment_method_id,
            "stateId": state_id(TRANSACTION, t.state),
            "amount": {"unitPrice": _money(t.amount), "totalPrice": _money(t.amount), "quantity": 1},
            "stateMachineState": render_state(TRANSACTION, t.state)
            if _sub(assoc, "stateMachineState") is not None else None}


def render_order(o: Order, assoc: Assoc) -> JSON:
    total = o.amount_total
    body: JSON = {
        "id": o.id, "versionId": LIVE_VERSION, "orderNumber": o.number, "billingAddressId": o.billing.id,
        "currencyId": currency_id(o.currency), "languageId": _LANGUAGE, "salesChannelId": _SALES_CHANNEL,
        "orderDateTime": stamp(o.order_date_time), "currencyFactor": 1.0, "stateId": state_id(ORDER, o.state),
        "amountTotal": _money(total), "amountNet": _money(total / Decimal("1.21")), "shippingTotal": 0.0,
        "price": {"netPrice": _money(total / Decimal("1.21")), "totalPrice": _money(total),
                  "positionPrice": _money(total), "rawTotal": _money(total), "taxStatus": "gross"},
        "itemRounding": _ROUNDING, "totalRounding": _ROUNDING,
        "primaryOrderDeliveryId": o.deliveries[0].id if o.deliveries else None,
        "createdAt": stamp(o.created_at), "updatedAt": stamp(o.updated_at),
        "stateMachineState": render_state(ORDER, o.state) if "stateMachineState" in assoc else None,
        "lineItems": None, "deliveries": None, "transactions": None, "orderCustomer": None, "currency": None,
        "billingAddress": None,
    }
    if (sub := _sub(assoc, "lineItems")) is not None:
        body["lineItems"] = [render_line_item(li, o, sub) for li in o.line_items]
    if (sub := _sub(assoc, "deliveries")) is not None:
        body["deliveries"] = [render_delivery(d, o, sub) for d in o.deliveries]
    if (sub := _sub(assoc, "transactions")) is not None:
        body["transactions"] = [render_transaction(t, o, sub) for t in o.transactions]
    if "orderCustomer" in assoc:
        body["orderCustomer"] = {"id": uuid.uuid5(uuid.NAMESPACE_URL, o.id).hex, "orderId": o.id,
                                 "email": o.email, "firstName": o.billing.first_name,
                                 "lastName": o.billing.last_name}
    if "currency" in assoc:
        body["currency"] = {"id": currency_id(o.currency), "isoCode": o.currency, "factor": 1.0,
                            "symbol": {"EUR": "€"}.get(o.currency, o.currency), "shortName": o.currency,
                            "name": o.currency, "itemRounding": _ROUNDING, "totalRounding": _ROUNDING}
    if (sub := _sub(assoc, "billingAddress")) is not None:
        body["billingAddress"] = render_address(o.billing, o.id, sub)
    body.update(o.malformed)
    return body
