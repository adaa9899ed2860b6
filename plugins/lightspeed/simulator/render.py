"""How the simulated API renders its resources: Lightspeed's field names and resource links.

Related resources appear as ``{"resource": {"id", "url", "link"}}``; texts follow the request's
language; identifiers a shop never filled in are empty strings, as on real shops.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kade.plugins.lightspeed.simulator.state import LightspeedState, Order, Shipment, Variant

JSON = dict[str, Any]


def stamp(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def resource(state: LightspeedState, shop_id: int, language: str, path: str, rid: int | bool) -> JSON:
    host = _host(state, shop_id)
    return {"resource": {"id": rid, "url": path, "link": f"https://{host}/{language}/{path}.json"}}


def _host(state: LightspeedState, shop_id: int) -> str:
    from kade.plugins.lightspeed.simulator.state import CLUSTERS

    return CLUSTERS[state.shops[shop_id].cluster]


def render_order(state: LightspeedState, order: Order, language: str) -> JSON:
    total = sum((p.price * p.quantity for p in order.products), start=Decimal(0))
    body: JSON = {
        "id": order.id,
        "createdAt": stamp(order.created_at),
        "updatedAt": stamp(order.updated_at),
        "number": order.number,
        "status": order.status,
        "customStatusId": None,
        "paymentStatus": order.payment_status,
        "shipmentStatus": order.shipment_status,
        "shipmentId": "core|33265|55707",
        "shipmentTitle": "PostNL",
        "shipmentIsPickup": False,
        "priceIncl": f"{total:.2f}",
        "priceExcl": f"{total / 121 * 100:.2f}",
        "currency": state.shops[order.shop_id].currency,
        "email": order.email,
        "firstname": order.firstname,
        "lastname": order.lastname,
        "phone": "0612345678",
        "addressShippingName": f"{order.firstname} {order.lastname}",
        "addressShippingStreet": "Kerkstraat",
        "addressShippingNumber": "12",
        "addressShippingExtension": "",
        "addressShippingZipcode": "1012 AB",
        "addressShippingCity": "Amsterdam",
        "addressShippingRegion": "",
        "addressShippingCountry": {"code": "nl", "title": "Netherlands"},
        "addressBillingName": f"{order.firstname} {order.lastname}",
        "addressBillingStreet": "Kerkstraat",
        "addressBillingNumber": "12",
        "addressBillingExtension": "",
        "addressBillingZipcode": "1012 AB",
        "addressBillingCity": "Amsterdam",
        "addressBillingRegion": "",
        "addressBillingCountry": {"code": "nl", "title": "Netherlands"},
        "language": {"code": order.language},
        "memo": order.memo,
        "doNotifyCancelled": True,
        "products": resource(state, order.shop_id, language, f"orders/{order.id}/products", True),
        "shipments": resource(state, order.shop_id, language, f"shipments?order={order.id}", True),
    }
    body.update(order.patch)
    return body


def render_order_product(state: LightspeedState, order: Order, index: int, language: str) -> JSON:
    p = order.products[index]
    variant = state.variants.get(p.variant_id)
    title = variant.titles.get(language, p.title) if variant else p.title
    body: JSON = {
        "id": p.id,
        "productTitle": title,
        "variantTitle": p.variant_title,
        "quantityOrdered": p.quantity,
        "quantityInvoiced": p.quantity,
        "quantityShipped": p.quantity_shipped,
        "quantityRefunded": 0,
        "quantityReturned": 0,
        "articleCode": p.article_code,
        "ean": p.ean,
        "sku": p.sku,
        "priceIncl": f"{p.price:.2f}",
        "priceExcl": f"{p.price / 121 * 100:.2f}",
        "weight": 0,
        "product": resource(state, order.shop_id, language, f"products/{p.product_id}", p.product_id),
        "variant": resource(state, order.shop_id, language, f"variants/{p.variant_id}", p.variant_id),
    }
    body.update(p.patch)
    return body


def render_shipment(state: LightspeedState, shipment: Shipment, language: str) -> JSON:
    order = state.orders[shipment.order_id]
    return {
        "id": shipment.id,
        "createdAt": stamp(order.created_at),
        "updatedAt": stamp(shipment.updated_at),
        "number": shipment.number,
        "status": shipment.status,
        "trackingCode": shipment.tracking_code,
        "trackingUrl": shipment.tracking_url,
        "carrier": shipment.carrier,
        "doNotifyShipped": shipment.do_notify_shipped,
        "doNotifyReadyForPickup": False,
        "doNotifyTrackingCode": bool(shipment.tracking_code),
        "totalWeight": 0,
        "order": resource(state, order.shop_id, language, f"orders/{order.id}", order.id),
        "products": resource(state, order.shop_id, language, f"shipments/{shipment.id}/products", True),
    }


def render_shipment_products(state: LightspeedState, shipment: Shipment) -> list[JSON]:
    order = state.orders[shipment.order_id]
    by_id = {p.id: p for p in order.products}
    return [
        {"id": pid, "quantity": qty, "title": by_id[pid].title, "articleCode": by_id[pid].article_code,
         "ean": by_id[pid].ean, "sku": by_id[pid].sku,
         "variant": {"resource": {"id": by_id[pid].variant_id, "url": f"variants/{by_id[pid].variant_id}"}}}
        for pid, qty in shipment.products.items()
    ]


def render_variant(state: LightspeedState, variant: Variant, language: str) -> JSON:
    return {
        "id": variant.id,
        "createdAt": stamp(variant.updated_at),
        "updatedAt": stamp(variant.updated_at),
        "isDefault": True,
        "sortOrder": 1,
        "articleCode": variant.article_code,
        "ean": variant.ean,
        "sku": variant.sku,
        "priceIncl": f"{variant.price:.2f}",
        "priceExcl": f"{variant.price / 121 * 100:.2f}",
        "stockTracking": variant.stock_tracking,
        "stockLevel": variant.stock_level,
        "stockAlert": 0,
        "stockMinimum": 0,
        "stockSold": 0,
        "stockBuyMinimum": 1,
        "stockBuyMaximum": 10000,
        "title": variant.titles.get(language, next(iter(variant.titles.values()))),
        "product": resource(state, variant.shop_id, language, f"products/{variant.product_id}", variant.product_id),
    }
