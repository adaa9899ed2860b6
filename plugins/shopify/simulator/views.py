"""GraphQL views of the shop's objects, shared by every resolver."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
)

from kade.plugins.shopify.simulator.models import (
    QUANTITY_NAMES,
    FOLine,
    Fulfillment,
    FulfillmentOrder,
    LineItem,
    Location,
    Order,
    Variant,
    _require_gid,
    gid,
    iso,
    line_of,
    money,
)
from kade.plugins.shopify.simulator.paging import _money_bag, _Page
from kade.plugins.shopify.simulator.strict import not_implemented

if TYPE_CHECKING:
    from kade.plugins.shopify.simulator.state import SimState


class _Views:
    """Root value for both operation types: attribute names are the root fields."""

    def __init__(self, sim: SimState) -> None:
        self.sim = sim

    # -------------------------------------------------------------- views

    def location_view(self, loc: Location) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "Location",
            "id": gid("Location", loc.id),
            "legacyResourceId": str(loc.id),
            "name": loc.name,
            "isActive": loc.active,
            "isPrimary": loc is sim.primary_location,
            "fulfillsOnlineOrders": loc.fulfills_online_orders,
            "hasActiveInventory": lambda info: any(lid == loc.id for (_, lid) in sim.levels),
            "shipsInventory": True,
            "inventoryLevels": lambda info, **a: _Page.connection(
                self._stocked_at(loc),
                lambda v: (v.inventory_item_id,),
                lambda v: self.level_view(v, loc),
                a,
            ),
            "inventoryLevel": lambda info, inventoryItemId: self._level_for(inventoryItemId, loc),
        }

    def _stocked_at(self, loc: Location) -> list[Variant]:
        if getattr(self.sim, "synthetic", None) is not None:
            raise not_implemented("paged inventory levels of a synthetic catalogue (bulk exports only)")
        return [v for v in self.sim.variants.values() if (v.inventory_item_id, loc.id) in self.sim.levels]

    def _level_for(self, item_gid: str, loc: Location) -> dict[str, Any] | None:
        item_id = _require_gid(item_gid, "InventoryItem")
        variant = self.sim.variant_by_item(item_id) if item_id else None
        if variant is None or (variant.inventory_item_id, loc.id) not in self.sim.levels:
            return None
        return self.level_view(variant, loc)

    def level_view(self, variant: Variant, loc: Location) -> dict[str, Any]:
        level = self.sim.levels[(variant.inventory_item_id, loc.id)]
        values = {
            "available": level.available,
            "committed": level.committed,
            "on_hand": level.available + level.committed,
        }

        def quantities(info: Any, names: list[str]) -> list[dict[str, Any]]:
            unknown = [n for n in names if n not in QUANTITY_NAMES]
            if unknown:
                raise GraphQLError(f"Invalid quantity names: {', '.join(unknown)}")
            return [
                {
                    "id": f"gid://shopify/InventoryQuantity/{loc.id}?inventory_item_id={variant.inventory_item_id}"
                    f"&name={n}",
                    "name": n,
                    "quantity": values.get(n, 0),
                    "updatedAt": iso(level.updated_at),
                }
                for n in names
            ]

        return {
            "__typename": "InventoryLevel",
            "id": f"gid://shopify/InventoryLevel/{loc.id}?inventory_item_id={variant.inventory_item_id}",
            "quantities": quantities,
            "item": lambda info: self.item_view(variant),
            "location": lambda info: self.location_view(loc),
            "updatedAt": iso(level.updated_at),
            "createdAt": iso(variant.created_at),
            "canDeactivate": True,
        }

    def item_view(self, variant: Variant) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "InventoryItem",
            "id": gid("InventoryItem", variant.inventory_item_id),
            "legacyResourceId": str(variant.inventory_item_id),
            "sku": variant.sku,
            "tracked": variant.tracked,
            "requiresShipping": True,
            "createdAt": iso(variant.created_at),
            "updatedAt": iso(variant.created_at),
            "variant": lambda info: self.variant_view(variant),
            "inventoryLevel": lambda info, locationId: self._item_level(variant, locationId),
            "inventoryLevels": lambda info, **a: _Page.connection(
                [loc for loc in sim.locations.values() if (variant.inventory_item_id, loc.id) in sim.levels],
                lambda loc: (loc.id,),
                lambda loc: self.level_view(variant, loc),
                a,
            ),
        }

    def _item_level(self, variant: Variant, location_gid: str) -> dict[str, Any] | None:
        loc = self.sim.locations.get(_require_gid(location_gid, "Location") or 0)
        if loc is None or (variant.inventory_item_id, loc.id) not in self.sim.levels:
            return None
        return self.level_view(variant, loc)

    def variant_view(self, variant: Variant) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "ProductVariant",
            "id": gid("ProductVariant", variant.id),
            "legacyResourceId": str(variant.id),
            "sku": variant.sku,
            "barcode": variant.barcode,
            "title": variant.title,
            "displayName": f"{variant.product_title} - {variant.title}",
            "price": money(variant.price),
            "position": 1,
            "availableForSale": True,
            "taxable": True,
            "inventoryPolicy": "DENY",
            "inventoryQuantity": sum(
                lvl.available for (item, _), lvl in sim.levels.items() if item == variant.inventory_item_id
            ),
            "createdAt": iso(variant.created_at),
            "updatedAt": iso(variant.created_at),
            "inventoryItem": lambda info: self.item_view(variant),
            "product": lambda info: {
                "__typename": "Product",
                "id": gid("Product", variant.product_id),
                "legacyResourceId": str(variant.product_id),
                "title": variant.product_title,
                "handle": re.sub(r"[^a-z0-9]+", "-", variant.product_title.lower()).strip("-"),
            },
        }

    def address_view(self, address: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not address:
            return None
        return {
            "__typename": "MailingAddress",
            "name": address.get("name"),
            "firstName": address.get("first_name"),
            "lastName": address.get("last_name"),
            "company": address.get("company"),
            "address1": address.get("address1"),
            "address2": address.get("address2"),
            "zip": address.get("zip"),
            "city": address.get("city"),
            "province": address.get("province"),
            "country": address.get("country"),
            "countryCodeV2": address.get("country_code"),
            "phone": address.get("phone"),
        }

    def line_view(self, order: Order, line: LineItem) -> dict[str, Any]:
        variant = self.sim.variants.get(line.variant_id) if line.variant_id else None
        return {
            "__typename": "LineItem",
            "id": gid("LineItem", line.id),
            "sku": line.sku,
            "name": line.title if variant is None else f"{variant.product_title} - {variant.title}",
            "title": line.title,
            "variantTitle": variant.title if variant else None,
            "quantity": line.quantity,
            "currentQuantity": line.current_quantity,
            "unfulfilledQuantity": line.unfulfilled,
            "fulfillableQuantity": line.unfulfilled,
            "nonFulfillableQuantity": line.quantity - line.current_quantity,
            "refundableQuantity": line.current_quantity,
            "requiresShipping": True,
            "isGiftCard": False,
            "originalUnitPriceSet": _money_bag(line.price, order.currency),
            "discountedUnitPriceSet": _money_bag(line.price, order.currency),
            "variant": (lambda info: self.variant_view(variant)) if variant else None,
        }

    def fo_view(self, order: Order, fo: FulfillmentOrder) -> dict[str, Any]:
        loc = self.sim.locations[fo.location_id]
        open_ = fo.status in ("OPEN", "IN_PROGRESS")
        return {
            "__typename": "FulfillmentOrder",
            "id": gid("FulfillmentOrder", fo.id),
            "status": fo.status,
            "requestStatus": "UNSUBMITTED",
            "orderId": gid("Order", order.id),
            "orderName": order.name,
            "createdAt": iso(fo.created_at),
            "updatedAt": iso(fo.updated_at),
            "assignedLocation": {
                "name": loc.name,
                "countryCode": "NL",
                "location": lambda info: self.location_view(loc),
            },
            "supportedActions": [{"action": "CREATE_FULFILLMENT"}] if open_ else [],
            "lineItems": lambda info, **a: _Page.connection(
                fo.lines, lambda li: (li.id,), lambda li: self.fo_line_view(order, li), a
            ),
            "order": lambda info: self.order_view(order),
        }

    def fo_line_view(self, order: Order, fo_line: FOLine) -> dict[str, Any]:
        line = line_of(order, fo_line.line_item_id)
        variant = self.sim.variants.get(line.variant_id) if line.variant_id else None
        return {
            "__typename": "FulfillmentOrderLineItem",
            "id": gid("FulfillmentOrderLineItem", fo_line.id),
            "remainingQuantity": fo_line.remaining,
            "totalQuantity": fo_line.total,
            "sku": line.sku,
            "productTitle": line.title,
            "requiresShipping": True,
            "inventoryItemId": gid("InventoryItem", variant.inventory_item_id) if variant else None,
            "lineItem": lambda info: self.line_view(order, line),
            "variant": (lambda info: self.variant_view(variant)) if variant else None,
            "warnings": [],
        }

    def fulfillment_view(self, order: Order, ful: Fulfillment) -> dict[str, Any]:
        return {
            "__typename": "Fulfillment",
            "id": gid("Fulfillment", ful.id),
            "legacyResourceId": str(ful.id),
            "name": ful.name,
            "status": ful.status,
            "displayStatus": "FULFILLED" if ful.status == "SUCCESS" else None,
            "createdAt": iso(ful.created_at),
            "updatedAt": iso(ful.created_at),
            "requiresShipping": True,
            "totalQuantity": sum(li.quantity for li in ful.lines),
            "trackingInfo": lambda info, first=None: [dict(t) for t in ful.tracking][: first if first else None],
            "fulfillmentLineItems": lambda info, **a: _Page.connection(
                ful.lines,
                lambda fl: (fl.id,),
                lambda fl: {
                    "__typename": "FulfillmentLineItem",
                    "id": gid("FulfillmentLineItem", fl.id),
                    "quantity": fl.quantity,
                    "lineItem": lambda info: self.line_view(order, line_of(order, fl.line_item_id)),
                },
                a,
            ),
            "location": lambda info: self.location_view(self.sim.locations[ful.location_id]),
            "order": lambda info: self.order_view(order),
        }

    def order_view(self, order: Order) -> dict[str, Any]:
        sim = self.sim
        total = order.total_override if order.total_override is not None else order.total
        current_total = sum((li.price * li.current_quantity for li in order.lines), Decimal("0"))
        return {
            "__typename": "Order",
            "id": gid("Order", order.id),
            "legacyResourceId": str(order.id),
            "name": order.name,
            "createdAt": iso(order.created_at),
            "updatedAt": iso(order.updated_at),
            "processedAt": iso(order.created_at),
            "cancelledAt": iso(order.cancelled_at),
            "cancelReason": order.cancel_reason,
            "closed": order.closed_at is not None,
            "closedAt": iso(order.closed_at),
            "confirmed": True,
            "test": order.test,
            "email": order.email,
            "phone": order.phone,
            "note": None,
            "tags": [],
            "sourceName": "web",
            "requiresShipping": True,
            "currencyCode": order.currency,
            "presentmentCurrencyCode": order.currency,
            "displayFinancialStatus": order.financial_status,
            "displayFulfillmentStatus": sim.fulfillment_status(order),
            "totalPriceSet": _money_bag(total, order.currency),
            "subtotalPriceSet": _money_bag(total, order.currency),
            "currentTotalPriceSet": _money_bag(current_total, order.currency),
            "billingAddress": self.address_view(order.billing),
            "shippingAddress": self.address_view(order.shipping),
            "lineItems": lambda info, **a: _Page.connection(
                order.lines, lambda li: (li.id,), lambda li: self.line_view(order, li), a
            ),
            "fulfillmentOrders": lambda info, **a: _Page.connection(
                order.fulfillment_orders, lambda fo: (fo.id,), lambda fo: self.fo_view(order, fo), a
            ),
            "fulfillments": lambda info, first=None: [self.fulfillment_view(order, f) for f in order.fulfillments][
                : first if first else None
            ],
        }

    # -------------------------------------------------------------- query root
