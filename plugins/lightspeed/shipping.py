"""Shipments and cancellations on Lightspeed: the shop's own shipment objects, no partials.

The shop prepares each order's shipment(s); Kade marks them ``shipped`` with the tracking once
the whole order has shipped (the core holds partials, R8). Every step first reads what the shop
has, so a report that is checked or sent again never writes anything twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from kade.errors import NotFound, OutcomeUnknown, RejectedByStore, TransientError
from kade.mapping import flag_setting
from kade.plugins.lightspeed.client import MAX_PAGE, LightspeedClient, unwrap
from kade.types import (
    CancelRequest,
    CancelResult,
    ConnectionContext,
    RemoteShipmentState,
    ShipmentRequest,
    ShipmentResult,
)

log = structlog.get_logger(__name__)


def flag(ctx: ConnectionContext, name: str, default: bool) -> bool:
    return flag_setting(ctx.settings, name, default)


def remote_id(value: str, what: str) -> int:
    if not value.isdigit():
        raise NotFound(f"{value!r} is not a Lightspeed {what} id")
    return int(value)


def all_items(client: LightspeedClient, resource: str, key: str,
              params: Mapping[str, str | int] | None = None) -> list[Any]:
    """Every item of a small paged list (an order's products or shipments)."""
    out: list[Any] = []
    page = 1
    while True:
        items = unwrap(client.get(resource, {**(params or {}), "limit": MAX_PAGE, "page": page}), key, list)
        out.extend(items)
        if len(items) < MAX_PAGE:
            return out
        page += 1


def _order(client: LightspeedClient, order_id: int) -> dict[str, Any]:
    result: dict[str, Any] = unwrap(client.get(f"orders/{order_id}"), "order", dict)
    return result


def _shipments(client: LightspeedClient, order_id: int) -> list[dict[str, Any]]:
    found = all_items(client, "shipments", "shipments", {"order": order_id})
    return [s for s in found if isinstance(s, dict) and s.get("status") != "cancelled"]


def _ours(shipment: dict[str, Any], request: ShipmentRequest) -> bool:
    return shipment.get("status") == "shipped" and (
        not request.tracking_code or shipment.get("trackingCode") == request.tracking_code)


def _ship(ctx: ConnectionContext, client: LightspeedClient, request: ShipmentRequest,
          shipments: list[dict[str, Any]]) -> ShipmentResult:
    """Mark every shipment shipped with the tracking; skip what is already so (no write twice)."""
    notify = flag(ctx, "notify_customer", True)
    for shipment in shipments:
        if _ours(shipment, request):
            continue
        body: dict[str, Any] = {}
        if shipment.get("status") != "shipped":
            body.update(status="shipped", doNotifyShipped=notify)
        if request.tracking_code and not shipment.get("trackingCode"):
            body.update(trackingCode=request.tracking_code, doNotifyTrackingCode=notify, carrier=request.carrier)
            if request.tracking_url:
                body["trackingUrl"] = request.tracking_url
        if body:
            client.put(f"shipments/{int(shipment['id'])}", {"shipment": body})
        else:
            log.info("lightspeed.shipment_kept", connection_id=ctx.connection_id, shipment=shipment.get("id"),
                     detail="shipped by the shop with another tracking code; left as it is")
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED,
                          remote_reference=",".join(str(s.get("id")) for s in shipments))


def report(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    client = LightspeedClient(ctx)
    order_id = remote_id(shipment.order_remote_id, "order")
    order = _order(client, order_id)
    if order.get("status") == "cancelled":
        raise RejectedByStore(f"order {shipment.order_number} is cancelled in Lightspeed", code="order_cancelled")
    shipments = _shipments(client, order_id)
    if not shipments:
        # no shipment prepared by the shop: the order itself takes the status (without tracking)
        client.put(f"orders/{order_id}", {"order": {"shipmentStatus": "shipped"}})
        log.warning("lightspeed.no_shipment", connection_id=ctx.connection_id, order=shipment.order_number,
                    detail="the shop has no shipment for this order; marked shipped without tracking")
        return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=f"order:{order_id}")
    return _ship(ctx, client, shipment, shipments)


def check(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    """Our tracking on a shipped shipment means the report landed: finish any rest, never resend."""
    client = LightspeedClient(ctx)
    order_id = remote_id(shipment.order_remote_id, "order")
    shipments = _shipments(client, order_id)
    if not shipments:  # reported on the order itself (the shop prepared no shipment)
        if _order(client, order_id).get("shipmentStatus") == "shipped":
            return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=f"order:{order_id}")
        return None
    if not any(_ours(s, shipment) for s in shipments):
        return None
    return _ship(ctx, client, shipment, shipments)


def cancel(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    if request.lines:
        raise RejectedByStore("Lightspeed cancels whole orders only; cancel lines in the back office",
                              code="partial_cancel_unsupported")
    client = LightspeedClient(ctx)
    order_id = remote_id(request.order_remote_id, "order")
    order = _order(client, order_id)
    if order.get("status") == "cancelled":
        return CancelResult(ok=True, remote_reference=str(order_id))
    if order.get("shipmentStatus") in ("shipped", "partially_shipped"):
        raise RejectedByStore(f"order {request.order_number} has shipped in Lightspeed; it cannot be cancelled",
                              code="order_shipped")
    try:
        answer = client.put(f"orders/{order_id}", {"order": {"status": "cancelled"}})
    except OutcomeUnknown as exc:
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    status = unwrap(answer, "order", dict).get("status")
    if status != "cancelled":
        raise RejectedByStore(f"Lightspeed kept order {request.order_number} at {status!r}", code="not_cancelled")
    return CancelResult(ok=True, remote_reference=str(order_id))
