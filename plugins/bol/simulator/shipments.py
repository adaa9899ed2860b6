"""``/retailer/shipments``: create (asynchronously) and list."""

from __future__ import annotations

from starlette.responses import Response

from kade.plugins.bol.protocol import PAGE_SIZE
from kade.plugins.bol.simulator.gateway import Call, _invalid_value, _json, _page, problem
from kade.plugins.bol.simulator.models import DAY
from kade.plugins.bol.simulator.state import BolSimState


def create_shipment(sim: BolSimState, call: Call) -> Response:
    body = call.body
    violations: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "The request body must be a JSON object.", instance=call.url)
    items = body.get("orderItems")
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        violations.append(("orderItems", "size must be between 1 and 100"))
    else:
        for n, entry in enumerate(items):
            if not isinstance(entry, dict) or not isinstance(entry.get("orderItemId"), str) or not entry["orderItemId"]:
                violations.append((f"orderItems[{n}].orderItemId", "must not be empty"))
            elif "quantity" in entry and (not isinstance(entry["quantity"], int) or entry["quantity"] < 1):
                violations.append((f"orderItems[{n}].quantity", "must be greater than or equal to 1"))
    reference = body.get("shipmentReference")
    if reference is not None and (not isinstance(reference, str) or not 1 <= len(reference) <= 90):
        violations.append(("shipmentReference", "Only 'null' or non-empty strings up to 90 characters accepted."))
    transport = body.get("transport")
    label = body.get("shippingLabelId")
    if transport is None and label is None:
        violations.append(("transport", "Either transport or shippingLabelId is required."))
    elif transport is not None and label is not None:
        violations.append(("shippingLabelId", "Omit shippingLabelId when transport is given."))
    elif transport is not None and (
        not isinstance(transport, dict)
        or not isinstance(transport.get("transporterCode"), str)
        or not transport["transporterCode"]
    ):
        violations.append(("transport.transporterCode", "must not be empty"))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    first = body["orderItems"][0]["orderItemId"]
    process = sim._start_process(
        "CREATE_SHIPMENT", f"Create shipment for order item {first}.", first, sim._apply_shipment(body)
    )
    return _json(sim.process_json(process, call.base_url), 202)


def get_shipments(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    method = call.query.get("fulfilment-method")
    order_id = call.query.get("order-id")
    if method is not None and method not in ("FBR", "FBB"):
        violations.append(_invalid_value("fulfilment-method", method, ("FBR", "FBB")))
    if method is not None and order_id is not None:
        violations.append(("order-id", "order-id is only valid without fulfilment-method."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    cutoff = sim.now() - 92 * DAY
    shipments = [s for s in sim.shipments if s.created_at >= cutoff]
    if order_id is not None:
        shipments = [s for s in shipments if s.order_id == order_id]
    else:
        wanted = method or "FBR"
        shipments = [s for s in shipments if sim.item(s.items[0][0]).fulfilment == wanted]
    shipments.sort(key=lambda s: (s.created_at, int(s.shipment_id)), reverse=True)
    chunk = shipments[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if not chunk:
        return _json({})
    return _json({"shipments": [sim.shipment_json(s) for s in chunk]})

