"""REST order resources, the bodies of webhook deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kade.plugins.shopify.simulator.orders import OrderState
from kade.plugins.shopify.simulator.models import LineItem, Order, gid, line_of, money, rest_time


def _rest_money(amount: Decimal | str, currency: str) -> dict[str, Any]:
    text = amount if isinstance(amount, str) else money(amount)
    value = {"amount": text, "currency_code": currency}
    return {"shop_money": value, "presentment_money": dict(value)}


def _rest_line(sim: OrderState, order: Order, line: LineItem, quantity: int | None = None) -> dict[str, Any]:
    variant = sim.variants.get(line.variant_id) if line.variant_id else None
    if line.fulfilled == 0:
        status = None
    elif line.fulfilled >= line.current_quantity:
        status = "fulfilled"
    else:
        status = "partial"
    return {
        "id": line.id,
        "admin_graphql_api_id": gid("LineItem", line.id),
        "attributed_staffs": [],
        "current_quantity": line.current_quantity,
        "fulfillable_quantity": line.unfulfilled,
        "fulfillment_service": "manual",
        "fulfillment_status": status,
        "gift_card": False,
        "grams": 0,
        "name": line.title if variant is None else f"{variant.product_title} - {variant.title}",
        "price": money(line.price),
        "price_set": _rest_money(line.price, order.currency),
        "product_exists": variant is not None,
        "product_id": variant.product_id if variant else None,
        "properties": [],
        "quantity": line.quantity if quantity is None else quantity,
        "requires_shipping": True,
        "sku": line.sku,
        "taxable": True,
        "title": line.title,
        "total_discount": "0.00",
        "total_discount_set": _rest_money(Decimal("0"), order.currency),
        "variant_id": variant.id if variant else None,
        "variant_inventory_management": "shopify" if variant and variant.tracked else None,
        "variant_title": variant.title if variant else None,
        "vendor": None,
        "tax_lines": [],
        "duties": [],
        "discount_allocations": [],
    }


def _rest_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    keys = (
        "first_name",
        "address1",
        "phone",
        "city",
        "zip",
        "province",
        "country",
        "last_name",
        "address2",
        "company",
        "name",
        "country_code",
    )
    out = {k: address.get(k) for k in keys}
    out["latitude"] = None
    out["longitude"] = None
    out["province_code"] = None
    return out


def rest_order(sim: OrderState, order: Order) -> dict[str, Any]:
    """``order`` as the REST resource Shopify posts in ``orders/*`` webhooks (2026-07 shape)."""
    cur = order.currency
    total = order.total
    current = sum((li.price * li.current_quantity for li in order.lines), Decimal("0"))
    status = sim.fulfillment_status(order)
    zero = Decimal("0")
    return {
        "id": order.id,
        "admin_graphql_api_id": gid("Order", order.id),
        "app_id": None,
        "browser_ip": None,
        "buyer_accepts_marketing": False,
        "cancel_reason": order.cancel_reason.lower() if order.cancel_reason else None,
        "cancelled_at": rest_time(order.cancelled_at),
        "closed_at": rest_time(order.closed_at),
        "confirmation_number": None,
        "confirmed": True,
        "contact_email": order.email,
        "created_at": rest_time(order.created_at),
        "currency": cur,
        "current_subtotal_price": money(current),
        "current_subtotal_price_set": _rest_money(current, cur),
        "current_total_discounts": "0.00",
        "current_total_discounts_set": _rest_money(zero, cur),
        "current_total_price": money(current),
        "current_total_price_set": _rest_money(current, cur),
        "current_total_tax": "0.00",
        "current_total_tax_set": _rest_money(zero, cur),
        "customer_locale": None,
        "discount_codes": [],
        "duties_included": False,
        "email": order.email,
        "estimated_taxes": False,
        "financial_status": order.financial_status.lower(),
        "fulfillment_status": {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}.get(status),
        "location_id": None,
        "name": order.name,
        "note": None,
        "note_attributes": [],
        "number": order.number - 1000,
        "order_number": order.number,
        "payment_gateway_names": [],
        "phone": order.phone,
        "presentment_currency": cur,
        "processed_at": rest_time(order.created_at),
        "source_name": "web",
        "subtotal_price": money(total),
        "subtotal_price_set": _rest_money(total, cur),
        "tags": "",
        "tax_exempt": False,
        "tax_lines": [],
        "taxes_included": False,
        "test": order.test,
        "total_discounts": "0.00",
        "total_discounts_set": _rest_money(zero, cur),
        "total_line_items_price": money(total),
        "total_line_items_price_set": _rest_money(total, cur),
        "total_outstanding": "0.00",
        "total_price": money(total),
        "total_price_set": _rest_money(total, cur),
        "total_shipping_price_set": _rest_money(zero, cur),
        "total_tax": "0.00",
        "total_tax_set": _rest_money(zero, cur),
        "total_weight": 0,
        "updated_at": rest_time(order.updated_at),
        "user_id": None,
        "billing_address": _rest_address(order.billing),
        "shipping_address": _rest_address(order.shipping),
        "discount_applications": [],
        "fulfillments": [
            {
                "id": f.id,
                "admin_graphql_api_id": gid("Fulfillment", f.id),
                "created_at": rest_time(f.created_at),
                "location_id": f.location_id,
                "name": f.name,
                "order_id": order.id,
                "origin_address": {},
                "receipt": {},
                "service": "manual",
                "shipment_status": None,
                "status": f.status.lower(),
                "tracking_company": f.tracking[0]["company"] if f.tracking else None,
                "tracking_number": f.tracking[0]["number"] if f.tracking else None,
                "tracking_numbers": [t["number"] for t in f.tracking if t["number"]],
                "tracking_url": f.tracking[0]["url"] if f.tracking else None,
                "tracking_urls": [t["url"] for t in f.tracking if t["url"]],
                "updated_at": rest_time(f.created_at),
                "line_items": [
                    _rest_line(sim, order, line_of(order, fl.line_item_id), fl.quantity) for fl in f.lines
                ],
            }
            for f in order.fulfillments
        ],
        "line_items": [_rest_line(sim, order, line) for line in order.lines],
        "refunds": [],
        "shipping_lines": [],
    }


# ============================================================================== HTTP

