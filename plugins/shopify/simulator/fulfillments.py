"""``fulfillmentCreate``: fulfillment orders, remaining quantities, tracking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kade.plugins.shopify.simulator.models import (
    FOLine,
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    Order,
    gid,
    line_of,
    parse_gid,
)
from kade.plugins.shopify.simulator.queries import _QueryRoot

if TYPE_CHECKING:
    pass


class _FulfillmentRoot(_QueryRoot):
    """The fulfillment mutation."""


    def fulfillmentCreate(self, info: Any, fulfillment: dict[str, Any], message: str | None = None) -> dict[str, Any]:
        sim = self.sim
        groups = fulfillment.get("lineItemsByFulfillmentOrder") or []

        def fail(msg: str, *path: str) -> dict[str, Any]:
            return {"fulfillment": None, "userErrors": [{"field": ["fulfillment", *path], "message": msg}]}

        if not groups:
            return fail("Line items by fulfillment order can't be blank.", "lineItemsByFulfillmentOrder")
        resolved: list[tuple[Order, FulfillmentOrder, list[tuple[FOLine, int]]]] = []
        for g_index, group in enumerate(groups):
            fo_id = parse_gid(group.get("fulfillmentOrderId"), "FulfillmentOrder")
            found = next(((o, fo) for o in sim.orders.values() for fo in o.fulfillment_orders if fo.id == fo_id), None)
            where = ("lineItemsByFulfillmentOrder", str(g_index), "fulfillmentOrderId")
            if found is None:
                return fail("Fulfillment order does not exist.", *where)
            order, fo = found
            if fo.status not in ("OPEN", "IN_PROGRESS"):
                return fail(
                    f"Fulfillment order {gid('FulfillmentOrder', fo.id)} has an unfulfillable status= "
                    f"{fo.status.lower()}.",
                    *where,
                )
            wanted = group.get("fulfillmentOrderLineItems")
            picks: list[tuple[FOLine, int]] = []
            if not wanted:
                picks = [(li, li.remaining) for li in fo.lines if li.remaining > 0]
            else:
                for item in wanted:
                    li_id = parse_gid(item.get("id"), "FulfillmentOrderLineItem")
                    fo_line = next((li for li in fo.lines if li.id == li_id), None)
                    if fo_line is None:
                        return fail("Invalid fulfillment order line item id.", *where[:2], "fulfillmentOrderLineItems")
                    if not 0 < item["quantity"] <= fo_line.remaining:
                        return fail(
                            "Invalid fulfillment order line item quantity requested.",
                            *where[:2],
                            "fulfillmentOrderLineItems",
                        )
                    picks.append((fo_line, item["quantity"]))
            if not picks:
                return fail("Fulfillment order has no remaining line items.", *where)
            resolved.append((order, fo, picks))
        if len({o.id for o, _, _ in resolved}) > 1:
            return fail("All fulfillment orders must belong to the same order.", "lineItemsByFulfillmentOrder")
        if len({fo.location_id for _, fo, _ in resolved}) > 1:
            return fail("All fulfillment orders must be assigned to the same location.", "lineItemsByFulfillmentOrder")
        tracking = fulfillment.get("trackingInfo") or {}
        if tracking.get("url") and not tracking.get("number"):
            return fail("Tracking number must be provided when a tracking URL is.", "trackingInfo", "number")
        order = resolved[0][0]
        location = sim.locations[resolved[0][1].location_id]
        lines: list[FulfillmentLine] = []
        for _, fo, picks in resolved:
            for fo_line, quantity in picks:
                fo_line.remaining -= quantity
                line = line_of(order, fo_line.line_item_id)
                line.fulfilled += quantity
                variant = sim.variants.get(line.variant_id) if line.variant_id else None
                level = sim.level(variant, location) if variant else None
                if level is not None:
                    level.committed -= quantity
                lines.append(FulfillmentLine(sim.next_id("FulfillmentLineItem"), line.id, quantity))
            fo.status = "CLOSED" if all(li.remaining == 0 for li in fo.lines) else "IN_PROGRESS"
            fo.updated_at = sim.now()
        numbers = [tracking["number"]] if tracking.get("number") else list(tracking.get("numbers") or [])
        urls = [tracking["url"]] if tracking.get("url") else list(tracking.get("urls") or [])
        info_rows: list[dict[str, str | None]] = [
            {"company": tracking.get("company"), "number": n, "url": urls[i] if i < len(urls) else None}
            for i, n in enumerate(numbers)
        ] or ([{"company": tracking.get("company"), "number": None, "url": None}] if tracking.get("company") else [])
        ful = Fulfillment(
            id=sim.next_id("Fulfillment"),
            order_id=order.id,
            location_id=location.id,
            name=f"{order.name}-F{len(order.fulfillments) + 1}",
            status="SUCCESS",
            created_at=sim.now(),
            tracking=info_rows,
            lines=lines,
            notify_customer=bool(fulfillment.get("notifyCustomer")),
        )
        order.fulfillments.append(ful)
        topic = "orders/fulfilled" if sim.fulfillment_status(order) == "FULFILLED" else "orders/partially_fulfilled"
        sim.touch(order, topic, "orders/updated")
        return {"fulfillment": self.fulfillment_view(order, ful), "userErrors": []}
