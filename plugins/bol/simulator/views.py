"""Bol's JSON views of orders and shipments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from kade.plugins.bol.simulator.catalog import CatalogState
from kade.plugins.bol.simulator.models import SimOrder, SimOrderItem, SimShipment, iso


class ViewState(CatalogState):
    """The bodies the API answers, built from the state."""

    def reduced_order_json(self, order: SimOrder, items: Iterable[SimOrderItem]) -> dict[str, Any]:
        return {
            "orderId": order.order_id,
            "orderPlacedDateTime": iso(order.placed_at),
            "orderItems": [
                {
                    "orderItemId": item.order_item_id,
                    "ean": item.offer.ean,
                    "fulfilmentMethod": item.fulfilment,
                    "fulfilmentStatus": item.fulfilment_status,
                    "quantity": item.quantity,
                    "quantityShipped": item.quantity_shipped,
                    "quantityCancelled": item.quantity_cancelled,
                    "cancellationRequest": item.cancellation_request,
                    "latestChangedDateTime": iso(item.changed_at),
                }
                for item in items
            ],
        }

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        if order.detail_override is not None:
            return order.detail_override
        c = order.customer
        address = {
            "salutation": "UNKNOWN",
            "firstName": c["firstName"],
            "surname": c["surname"],
            "streetName": c["streetName"],
            "houseNumber": c["houseNumber"],
            "zipCode": c["zipCode"],
            "city": c["city"],
            "countryCode": c["countryCode"],
            "email": c["email"],
        }
        placed = datetime.fromtimestamp(order.placed_at, UTC).date()
        return {
            "orderId": order.order_id,
            "pickupPoint": order.pickup_point,
            "orderPlacedDateTime": iso(order.placed_at),
            "shipmentDetails": {**address, "language": "nl"},
            "billingDetails": dict(address),
            "orderItems": [
                {
                    "orderItemId": item.order_item_id,
                    "cancellationRequest": item.cancellation_request,
                    "fulfilment": {
                        "method": item.fulfilment,
                        "distributionParty": "BOL" if item.fulfilment == "FBB" else "RETAILER",
                        "latestDeliveryDate": (placed + timedelta(days=2)).isoformat(),
                        "expiryDate": (placed + timedelta(days=5)).isoformat(),
                        "timeFrameType": "REGULAR",
                    },
                    "offer": {
                        "offerId": item.offer.offer_id,
                        **({"reference": item.offer.reference} if item.offer.reference else {}),
                    },
                    "product": {"ean": item.offer.ean, "title": item.offer.title},
                    "quantity": item.quantity,
                    "quantityShipped": item.quantity_shipped,
                    "quantityCancelled": item.quantity_cancelled,
                    "unitPrice": float(item.unit_price),
                    "totalPrice": float(item.unit_price * item.quantity),
                    "discounts": [],
                    "commission": float((item.unit_price * item.quantity * Decimal("0.15")).quantize(Decimal("0.01"))),
                    "additionalServices": [],
                    "latestChangedDateTime": iso(item.changed_at),
                }
                for item in order.items
            ],
        }

    def shipment_json(self, shipment: SimShipment) -> dict[str, Any]:
        order = self.orders[shipment.order_id]
        return {
            "shipmentId": shipment.shipment_id,
            "shipmentDateTime": iso(shipment.created_at),
            "shipmentReference": shipment.reference or "",
            "order": {"orderId": order.order_id, "orderPlacedDateTime": iso(order.placed_at)},
            "shipmentItems": [
                {"orderItemId": item_id, "ean": self.item(item_id).offer.ean} for item_id, _ in shipment.items
            ],
            "transport": {"transportId": shipment.transport_id},
        }


