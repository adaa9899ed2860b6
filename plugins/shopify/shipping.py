"""Shipments on Shopify (rule R8): one ``fulfillmentCreate`` per warehouse shipment, holding only
the shipped fulfillment-order lines and quantities, with its own tracking; a retry first looks
for the fulfillment an earlier attempt may have made."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from kade.errors import NotFound, RejectedByStore
from kade.hookspecs import hookimpl
from kade.mapping import flag_setting
from kade.plugins.shopify.client import ShopifyClient
from kade.plugins.shopify.mapping import to_gid
from kade.plugins.shopify.queries import FULFILLMENT_CREATE, FULFILLMENT_ORDERS, ORDER_FULFILLMENTS
from kade.types import ConnectionContext, RemoteShipmentState, ShipmentRequest, ShipmentResult

#: fulfillment-order states a shipment may still be written to
FULFILLABLE = frozenset({"OPEN", "IN_PROGRESS"})

def order_with_fulfillment_orders(client: ShopifyClient, order_id: str) -> tuple[dict[str, Any], list[Any]]:
    fulfillment_orders: list[Any] = []
    after = None
    while True:
        data = client.execute(FULFILLMENT_ORDERS, {"id": order_id, "after": after})
        order = data.get("order")
        if order is None:
            raise NotFound(f"Shopify order {order_id} does not exist")
        conn = order["fulfillmentOrders"]
        fulfillment_orders.extend(conn["nodes"])
        if not conn["pageInfo"]["hasNextPage"]:
            return order, fulfillment_orders
        after = conn["pageInfo"]["endCursor"]


def _cancelled(order: Mapping[str, Any], shipment: ShipmentRequest) -> RejectedByStore:
    state = "cancelled" if order.get("cancelledAt") else "closed"
    return RejectedByStore(f"order {shipment.order_number} is {state} on Shopify", code="order_cancelled")


def _allocate(
    ctx: ConnectionContext, shipment: ShipmentRequest, order: Mapping[str, Any], fos: list[Any]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Spread the shipped quantities over open fulfillment-order lines, grouped by location."""
    preferred = ctx.settings.get("location_id")
    preferred_gid = to_gid("Location", str(preferred)) if preferred else None

    def location_of(fo: Mapping[str, Any]) -> str:
        return str(((fo.get("assignedLocation") or {}).get("location") or {}).get("id") or "")

    open_fos = sorted(
        (fo for fo in fos if fo["status"] in FULFILLABLE), key=lambda fo: location_of(fo) != preferred_gid
    )
    left = {li["id"]: li["remainingQuantity"] for fo in open_fos for li in fo["lineItems"]["nodes"]}
    plan: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for line in shipment.lines:
        need = line.quantity
        for fo in open_fos:
            for fo_line in fo["lineItems"]["nodes"]:
                if need == 0:
                    break
                if fo_line["lineItem"]["id"] != line.remote_line_id or left[fo_line["id"]] <= 0:
                    continue
                take = min(need, left[fo_line["id"]])
                left[fo_line["id"]] -= take
                need -= take
                plan.setdefault(location_of(fo), {}).setdefault(fo["id"], []).append(
                    {"id": fo_line["id"], "quantity": take}
                )
        if need:
            known = [
                (fo, li) for fo in fos for li in fo["lineItems"]["nodes"] if li["lineItem"]["id"] == line.remote_line_id
            ]
            if not known:
                raise RejectedByStore(
                    f"line {line.remote_line_id} is not on order {shipment.order_number}", code="unknown_line"
                )
            if all(fo["status"] == "CANCELLED" for fo, _ in known) and (
                order.get("cancelledAt") or order.get("closed")
            ):
                raise _cancelled(order, shipment)
            remaining = sum(li["remainingQuantity"] for fo, li in known if fo["status"] in FULFILLABLE)
            raise RejectedByStore(
                f"line {line.remote_line_id} ({line.sku or 'no sku'}): {line.quantity} shipped but only "
                f"{remaining} left to fulfil on order {shipment.order_number}",
                code="quantity_exceeds_remaining",
            )
    return plan


@hookimpl
def report_shipment(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    client = ShopifyClient(ctx)
    order, fos = order_with_fulfillment_orders(client, shipment.order_remote_id)
    if order.get("cancelledAt"):
        raise _cancelled(order, shipment)
    plan = _allocate(ctx, shipment, order, fos)
    tracking = {
        key: value
        for key, value in (
            ("company", shipment.carrier or None),
            ("number", shipment.tracking_code),
            ("url", shipment.tracking_url if shipment.tracking_code else None),
        )
        if value
    }
    references = []
    for by_fo in plan.values():
        fulfillment: dict[str, Any] = {
            "notifyCustomer": flag_setting(ctx.settings, "notify_customer", True),
            "lineItemsByFulfillmentOrder": [
                {"fulfillmentOrderId": fo_id, "fulfillmentOrderLineItems": lines} for fo_id, lines in by_fo.items()
            ],
        }
        if tracking:
            fulfillment["trackingInfo"] = tracking
        payload = client.execute(FULFILLMENT_CREATE, {"fulfillment": fulfillment})["fulfillmentCreate"] or {}
        errors = payload.get("userErrors") or []
        if errors:
            message = "; ".join(str(e.get("message")) for e in errors)
            current, _ = order_with_fulfillment_orders(client, shipment.order_remote_id)
            if current.get("cancelledAt") or current.get("closed"):
                raise _cancelled(current, shipment)
            raise RejectedByStore(f"Shopify refused the fulfillment: {message}", code="fulfillment_rejected")
        references.append(str(payload["fulfillment"]["id"]))
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=",".join(references))


@hookimpl
def check_shipment(
    ctx: ConnectionContext, shipment: ShipmentRequest, remote_reference: str | None
) -> ShipmentResult | None:
    data = ShopifyClient(ctx).execute(ORDER_FULFILLMENTS, {"id": shipment.order_remote_id})
    order = data.get("order")
    if order is None:
        raise NotFound(f"Shopify order {shipment.order_remote_id} does not exist")
    live = [f for f in order["fulfillments"] if f["status"] not in ("CANCELLED", "ERROR", "FAILURE")]
    if remote_reference:
        wanted_ids = set(remote_reference.split(","))
        if wanted_ids & {f["id"] for f in live}:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=remote_reference)
    want: Counter[str] = Counter()
    for line in shipment.lines:
        want[line.remote_line_id] += line.quantity

    def numbers(f: Mapping[str, Any]) -> set[str]:
        return {str(t["number"]) for t in f["trackingInfo"] if t.get("number")}

    if shipment.tracking_code:
        candidates = [f for f in live if shipment.tracking_code in numbers(f)]
    else:
        candidates = [f for f in live if not numbers(f)]
    if shipment.tracking_code:
        got: Counter[str] = Counter()
        for f in candidates:
            for item in f["fulfillmentLineItems"]["nodes"]:
                got[item["lineItem"]["id"]] += int(item.get("quantity") or 0)
        if candidates and got == want:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED,
                                  remote_reference=",".join(f["id"] for f in candidates))
        return None
    for f in candidates:
        got = Counter()
        for item in f["fulfillmentLineItems"]["nodes"]:
            got[item["lineItem"]["id"]] += int(item.get("quantity") or 0)
        if got == want:
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=f["id"])
    return None
