"""Bol shipments: the reference a shipment is stored under, and what bol's processing of it ended in.

Bol processes a shipment asynchronously: the answer is a process status. A failed process is
looked into (the order's items) to tell a cancelled order from one already shipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from kade.errors import OutcomeUnknown, PlatformError, RejectedByStore
from kade.plugins.bol.client import BolClient, process_id
from kade.types import RemoteShipmentState, ShipmentRequest, ShipmentResult


def shipment_reference(shipment: ShipmentRequest) -> str:
    """The ``shipmentReference`` bol stores with the shipment; stable across retries (≤ 90 chars)."""
    key = shipment.idempotency_key
    if 0 < len(key) <= 90:
        return key
    return "kade-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def failure(client: BolClient, shipment: ShipmentRequest, process: Mapping[str, Any]) -> RejectedByStore:
    """Why bol refused a shipment, with ``order_cancelled`` when the items turn out to be cancelled."""
    message = str(process.get("errorMessage") or "no reason given")
    reason = f"bol refused the shipment of order {shipment.order_number}: {message}"
    try:
        detail = client.get_json(f"/retailer/orders/{quote(shipment.order_remote_id, safe='')}")
    except PlatformError:
        detail = {}
    items = {str(i.get("orderItemId")): i for i in detail.get("orderItems") or [] if isinstance(i, dict)}

    def counts(line_id: str) -> tuple[int, int, int] | None:
        item = items.get(line_id)
        if item is None:
            return None
        return int(item.get("quantity", 0)), int(item.get("quantityShipped", 0)), int(item.get("quantityCancelled", 0))

    known = [(line, counts(line.remote_line_id)) for line in shipment.lines]
    cancelled = any(c is not None and c[2] > 0 and c[0] - c[1] - c[2] < line.quantity for line, c in known)
    shipped_already = all(c is not None and c[0] - c[1] - c[2] == 0 and c[1] > 0 for _, c in known)
    if cancelled or "cancel" in message.lower():
        return RejectedByStore(reason, code="order_cancelled")
    if shipped_already:
        return RejectedByStore(reason, code="already_shipped")
    return RejectedByStore(reason, code="shipment_failed")


def result(client: BolClient, shipment: ShipmentRequest, process: Mapping[str, Any]) -> ShipmentResult:
    status = process.get("status")
    reference = process_id(process)
    if status == "SUCCESS":
        return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=reference)
    if status == "PENDING":
        return ShipmentResult(state=RemoteShipmentState.PENDING, remote_reference=reference)
    if status == "FAILURE":
        raise failure(client, shipment, process)
    raise OutcomeUnknown(f"bol's processing of the shipment ended in {status} (process {reference})")
