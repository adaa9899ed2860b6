"""Shipments and cancellations on CCV Shop: the order's own status, one track & trace.

CCV has no shipment objects and no partial shipments: the order's status becomes 5 (sent) with
``track_and_trace_code`` and ``track_and_trace_carrier`` on it, once, when the whole order has
shipped (the core holds partial shipments and strips the tracking of any later report, R8). Each
step reads the order first, so a report checked or sent again never writes twice.
"""

from __future__ import annotations

from typing import Any

import structlog

from kade.errors import OutcomeUnknown, RejectedByStore, TransientError
from kade.mapping import flag_setting
from kade.plugins.ccv.client import CcvClient, numeric_id
from kade.plugins.ccv.mapping import CANCELLED, SENT, SHIPPED_STATUSES
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


def _order(client: CcvClient, order_id: int) -> dict[str, Any]:
    order = client.get(f"orders/{order_id}")
    if not isinstance(order, dict) or not isinstance(order.get("status"), int):
        raise TransientError(f"CCV Shop's answer for order {order_id} has no status: {str(order)[:120]}")
    return order


def _carrier(carrier: str) -> str:
    """The carrier as CCV's deeplinks name them: lower case (``postnl``, ``dhl``)."""
    return carrier.strip().lower()


def _confirmed(order_id: int) -> ShipmentResult:
    return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=f"order:{order_id}")


def report(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
    client = CcvClient(ctx)
    order_id = numeric_id(shipment.order_remote_id, "order")
    order = _order(client, order_id)
    if order["status"] == CANCELLED:
        raise RejectedByStore(f"order {shipment.order_number} is cancelled in CCV Shop (status 8)",
                              code="order_cancelled")
    if order["status"] in SHIPPED_STATUSES:
        if shipment.tracking_code and shipment.first and not order.get("track_and_trace_code"):
            log.info("ccv.shipped_without_tracking", connection_id=ctx.connection_id, order=shipment.order_number,
                     detail="the shop already marked the order sent; its track & trace is left empty")
        return _confirmed(order_id)
    body: dict[str, Any] = {"status": SENT, "mail": flag(ctx, "notify_customer", True)}
    if shipment.first and shipment.tracking_code:
        body["track_and_trace_code"] = shipment.tracking_code
        body["track_and_trace_carrier"] = _carrier(shipment.carrier)
    client.patch(f"orders/{order_id}", body)
    return _confirmed(order_id)


def check(ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult | None:
    """The order at status 5-7 with our tracking (or none expected) means the report landed."""
    client = CcvClient(ctx)
    order_id = numeric_id(shipment.order_remote_id, "order")
    order = _order(client, order_id)
    if order["status"] not in SHIPPED_STATUSES:
        return None
    if shipment.first and shipment.tracking_code and order.get("track_and_trace_code") != shipment.tracking_code:
        log.info("ccv.shipped_by_shop", connection_id=ctx.connection_id, order=shipment.order_number,
                 detail="the order is sent with another track & trace; reported as it is")
    return _confirmed(order_id)


def cancel(ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
    if request.lines:
        raise RejectedByStore("CCV Shop cancels whole orders only (status 8); cancel rows in the back office",
                              code="partial_cancel_unsupported")
    client = CcvClient(ctx)
    order_id = numeric_id(request.order_remote_id, "order")
    order = _order(client, order_id)
    if order["status"] == CANCELLED:
        return CancelResult(ok=True, remote_reference=str(order_id))
    if order["status"] in SHIPPED_STATUSES:
        raise RejectedByStore(f"order {request.order_number} is already sent in CCV Shop (status "
                              f"{order['status']}); it cannot be cancelled", code="order_shipped")
    try:
        client.patch(f"orders/{order_id}", {"status": CANCELLED, "mail": flag(ctx, "notify_customer", True)})
    except OutcomeUnknown as exc:  # setting status 8 again is harmless: retry
        raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
    return CancelResult(ok=True, remote_reference=str(order_id))
