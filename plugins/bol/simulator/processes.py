"""Bol's asynchronous processing: 202 + process status, business rules applied on completion."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kade.plugins.bol.simulator.models import (
    CSV_COLUMNS,
    PROCESS_RETENTION,
    REPORT_RETENTION,
    SimOrderItem,
    SimProcess,
    SimShipment,
    iso,
)
from kade.plugins.bol.simulator.views import ViewState
from kade.plugins.bol.transporters import TRANSPORTER_CODES


class ProcessState(ViewState):
    """Processes started by writes and completed by ``settle`` when their time has come."""

    def _start_process(
        self,
        event_type: str,
        description: str,
        entity_id: str | None,
        action: Callable[[SimProcess], str | None],
    ) -> SimProcess:
        now = self.now()
        delay = self.process_delays.get(event_type, self.process_delay)
        process = SimProcess(
            process_id=self._next_id("process", 1_000_000),
            event_type=event_type,
            description=description,
            created_at=now,
            ready_at=now + delay,
            entity_id=entity_id,
            action=action,
        )
        self.processes[process.process_id] = process
        return process

    def settle(self) -> None:
        """Complete every process whose time has come, in the order they were started."""
        with self.lock:
            now = self.now()
            for process in list(self.processes.values()):
                if process.status == "PENDING" and process.ready_at <= now:
                    error = process.action(process)
                    process.status = "FAILURE" if error else "SUCCESS"
                    process.error_message = error
                    process.completed_at = now
                elif process.completed_at is not None and process.completed_at + PROCESS_RETENTION < now:
                    del self.processes[process.process_id]
            for report_id, (created, _) in list(self.reports.items()):
                if created + REPORT_RETENTION < now:
                    del self.reports[report_id]

    def process_json(self, process: SimProcess, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "processStatusId": process.process_id,
            "eventType": process.event_type,
            "description": process.description,
            "status": process.status,
            "createTimestamp": iso(process.created_at),
            "links": [
                {
                    "rel": "self",
                    "href": f"{base_url.rstrip('/')}/shared/process-status/{process.process_id}",
                    "method": "GET",
                }
            ],
        }
        if process.entity_id is not None:
            body["entityId"] = process.entity_id
        if process.error_message:
            body["errorMessage"] = process.error_message
        return body

    # -- business rules, applied when a process completes ---------------------------------------

    def _apply_shipment(self, request: dict[str, Any]) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            transport = request.get("transport")
            code = transport.get("transporterCode") if isinstance(transport, dict) else None
            if code is not None and code not in TRANSPORTER_CODES:
                return (
                    f"Transporter code '{code}' is not valid. Allowed values: {', '.join(sorted(TRANSPORTER_CODES))}."
                )
            planned: list[tuple[SimOrderItem, int]] = []
            order_id: str | None = None
            for entry in request["orderItems"]:
                item_id = entry["orderItemId"]
                found = self._item_index.get(item_id)
                if found is None:
                    return f"Order item {item_id} does not exist for this retailer."
                order, item = found
                if order_id is not None and order.order_id != order_id:
                    return "Order item id's must belong to the same order."
                order_id = order.order_id
                if item.fulfilment != "FBR":
                    return f"Order item {item_id} is fulfilled by bol and cannot be shipped by the retailer."
                if item.open_quantity == 0:
                    if item.quantity_cancelled > 0:
                        return f"Order item {item_id} could not be shipped: the order item has been cancelled."
                    return f"Order item {item_id} could not be shipped: it has already been shipped."
                quantity = entry.get("quantity", item.open_quantity)
                if quantity > item.open_quantity:
                    return (
                        f"Order item {item_id} could not be shipped: quantity {quantity} exceeds the open "
                        f"quantity {item.open_quantity}."
                    )
                planned.append((item, quantity))
            assert order_id is not None
            now = self.now()
            for item, quantity in planned:
                item.quantity_shipped += quantity
                item.cancellation_request = False
                item.changed_at = now
            self.shipments.append(
                SimShipment(
                    shipment_id=self._next_id("shipment", 3_300_000_000),
                    order_id=order_id,
                    created_at=now,
                    reference=request.get("shipmentReference"),
                    items=[(item.order_item_id, quantity) for item, quantity in planned],
                    transport_id=self._next_id("transport", 4_400_000_000),
                    transporter_code=code,
                    track_and_trace=transport.get("trackAndTrace") if isinstance(transport, dict) else None,
                    shipping_label_id=request.get("shippingLabelId"),
                )
            )
            return None

        return run

    def _apply_cancellation(self, item_id: str) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            found = self._item_index.get(item_id)
            if found is None:
                return f"Order item {item_id} does not exist for this retailer."
            item = found[1]
            if item.fulfilment != "FBR":
                return f"Order item {item_id} is fulfilled by bol and cannot be cancelled by the retailer."
            if item.open_quantity == 0:
                return f"Order item {item_id} could not be cancelled: it has already been shipped or cancelled."
            self.cancel_item(item_id)
            return None

        return run

    def _apply_stock(self, offer_id: str, amount: int, managed: bool) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            offer = self.offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} does not exist."
            offer.stock = amount
            offer.managed_by_retailer = managed
            offer.mutated_at = self.now()
            return None

        return run

    def _apply_export(self, process: SimProcess) -> str | None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for offer in self.offers.values():
            mutated = datetime.fromtimestamp(offer.mutated_at, UTC)
            writer.writerow(
                [
                    offer.offer_id,
                    offer.ean,
                    "NEW",
                    "NEW",
                    "",
                    f"{offer.price:.2f}",
                    "VVB" if offer.fulfilment == "FBB" else "1-2d",
                    offer.stock,
                    "true" if offer.on_hold else "false",
                    offer.fulfilment,
                    mutated.strftime("%Y-%m-%d %H:%M:%S.") + f"{mutated.microsecond // 10000:02d} UTC",
                    offer.reference or "",
                    "",
                ]
            )
        report_id = self._uuid()
        self.reports[report_id] = (self.now(), out.getvalue())
        process.entity_id = report_id
        return None

