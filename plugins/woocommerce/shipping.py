"""WooCommerce shipments: a note per shipment, and a tracking item where the Shipment Tracking
extension is installed.

WooCommerce has no shipment object: the note carries the carrier, the tracking and Kade's
marker, so ``check_shipment`` can tell whether a report whose answer was lost reached the store.
"""

from __future__ import annotations

import re
from typing import Any

from kade.errors import NotFound, RejectedByStore
from kade.mapping import flag_setting
from kade.plugins.woocommerce.client import TRACKING_API, WooClient
from kade.types import ConnectionContext, ShipmentRequest

#: how long the "is the Shipment Tracking extension installed" answer is reused
TRACKING_PROBE_TTL = 3600.0


def marker(shipment: ShipmentRequest) -> str:
    """The text that ties a note to one Kade shipment, so a lost answer can be checked."""
    return f"[Kade shipment {shipment.idempotency_key}]"


def note_text(shipment: ShipmentRequest) -> str:
    parts = [f"Shipped with {shipment.carrier}"]
    if shipment.tracking_code:
        parts.append(f", tracking code {shipment.tracking_code}")
    sentence = "".join(parts) + "."
    if shipment.tracking_url:
        sentence += f" Track your parcel: {shipment.tracking_url}"
    if not shipment.completes_order and shipment.lines:
        items = ", ".join(f"{line.quantity} × {line.sku or line.remote_line_id}" for line in shipment.lines)
        sentence += f" This is a partial shipment: {items}."
    return f"{sentence}\n{marker(shipment)}"


def add_note(ctx: ConnectionContext, client: WooClient, order_id: int, shipment: ShipmentRequest) -> Any:
    """Write the shipment's note (to the customer too unless ``tracking_note_to_customer`` is
    off); WooCommerce's answer, the note."""
    to_customer = flag_setting(ctx.settings, "tracking_note_to_customer", True)
    return client.send("POST", f"orders/{order_id}/notes", {"note": note_text(shipment), "customer_note": to_customer})


def mentions(text: str, shipment: ShipmentRequest) -> bool:
    """A note about this shipment: our marker, or its tracking code (e.g. written by a previous integration)."""
    if marker(shipment) in text:
        return True
    code = shipment.tracking_code
    return bool(code) and re.search(rf"(?<![\w-]){re.escape(code or '')}(?![\w-])", text) is not None


def uses_tracking_extension(ctx: ConnectionContext, client: WooClient, order_id: int) -> bool:
    """Setting ``on``/``off``, or (``auto``) probe the extension's route, remembering the answer."""
    mode = str(ctx.settings.get("shipment_tracking_extension") or "auto")
    if mode in ("on", "off"):
        return mode == "on"
    cache_key = f"{ctx.platform}:{ctx.connection_id}:shipment_tracking"
    cached = ctx.tokens.get(cache_key)
    if cached is not None:
        return cached == "1"
    try:
        client.get(f"orders/{order_id}/shipment-trackings", api=TRACKING_API)
        installed = True
    except NotFound as exc:
        if exc.code != "rest_no_route":
            raise
        installed = False
    ctx.tokens.set(cache_key, "1" if installed else "0", TRACKING_PROBE_TTL)
    return installed


def _tracking_body(shipment: ShipmentRequest) -> dict[str, str]:
    body = {"tracking_number": shipment.tracking_code or ""}
    if shipment.tracking_url:
        body.update(custom_tracking_provider=shipment.carrier, custom_tracking_link=shipment.tracking_url)
    else:
        body["tracking_provider"] = shipment.carrier
    return body


def add_tracking(client: WooClient, order_id: int, shipment: ShipmentRequest) -> str:
    try:
        answer = client.send(
            "POST", f"orders/{order_id}/shipment-trackings", _tracking_body(shipment), api=TRACKING_API
        )
    except NotFound as exc:
        if exc.code == "rest_no_route":
            raise RejectedByStore(
                "the Shipment Tracking extension is not installed on this store; set shipment_tracking_extension "
                "to auto or off",
                status_code=404,
                code="rest_no_route",
            ) from exc
        raise
    return str(answer.get("tracking_id", "")) if isinstance(answer, dict) else ""


def complete(client: WooClient, order_id: int) -> None:
    client.send("PUT", f"orders/{order_id}", {"status": "completed"})
