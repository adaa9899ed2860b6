"""``/retailer/orders``: lists, details and cancellations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from starlette.responses import Response

from kade.plugins.bol.protocol import CANCEL_REASONS
from kade.plugins.bol.simulator.gateway import Call, _invalid_value, _json, _page, problem
from kade.plugins.bol.simulator.models import SimOrderItem
from kade.plugins.bol.simulator.state import BolSimState


def get_orders(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    method = call.query.get("fulfilment-method", "FBR")
    if method not in ("FBR", "FBB", "ALL"):
        violations.append(_invalid_value("fulfilment-method", method, ("FBR", "FBB", "ALL")))
    status = call.query.get("status", "OPEN")
    if status not in ("OPEN", "SHIPPED", "ALL"):
        violations.append(_invalid_value("status", status, ("OPEN", "SHIPPED", "ALL")))
    changed_after: float | None = None
    change_date: date | None = None
    if "change-interval-minute" in call.query:
        raw = call.query["change-interval-minute"]
        if not raw.isdigit() or not 1 <= int(raw) <= 60:
            violations.append(
                ("change-interval-minute", f"Request contains invalid value(s): '{raw}', must be between 1 and 60.")
            )
        else:
            changed_after = sim.now() - int(raw) * 60
    if "latest-change-date" in call.query:
        raw = call.query["latest-change-date"]
        try:
            change_date = date.fromisoformat(raw)
        except ValueError:
            violations.append(
                ("latest-change-date", f"Request contains invalid value(s): '{raw}', expected a date (yyyy-MM-dd).")
            )
        else:
            if change_date < (datetime.fromtimestamp(sim.now(), UTC) - timedelta(days=92)).date():
                violations.append(("latest-change-date", "Up to 3 months of history is supported."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)

    def keep(item: SimOrderItem) -> bool:
        if method != "ALL" and item.fulfilment != method:
            return False
        if changed_after is not None and item.changed_at < changed_after:
            return False
        return change_date is None or datetime.fromtimestamp(item.changed_at, UTC).date() == change_date

    def order_matches(items: list[SimOrderItem]) -> bool:
        if not items:
            return False
        if status == "OPEN":
            return any(i.open_quantity > 0 for i in items)
        if status == "SHIPPED":
            return any(i.quantity_shipped > 0 for i in items)
        return True

    selected = []
    for order in sorted(sim.orders.values(), key=lambda o: (o.placed_at, o.order_id)):
        items = [i for i in order.items if keep(i)]
        if order_matches(items):
            selected.append((order, items))
    chunk = selected[(page - 1) * sim.page_size : page * sim.page_size]
    if not chunk:
        return _json({})  # bol's quirk: an empty list is an empty object
    return _json({"orders": [sim.reduced_order_json(order, items) for order, items in chunk]})


def get_order(sim: BolSimState, call: Call) -> Response:
    order = sim.orders.get(call.path_params["order_id"])
    if order is None:
        return problem(404, "Not Found", f"Order {call.path_params['order_id']} not found.", instance=call.url)
    return _json(sim.order_json(order))


def cancel_order_item(sim: BolSimState, call: Call) -> Response:
    body = call.body
    violations: list[tuple[str, str]] = []
    items = body.get("orderItems") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= 1:
        violations.append(("orderItems", "size must be between 1 and 1"))
    else:
        entry = items[0]
        if not isinstance(entry, dict) or not isinstance(entry.get("orderItemId"), str) or not entry["orderItemId"]:
            violations.append(("orderItems[0].orderItemId", "must not be empty"))
        reason = entry.get("reasonCode") if isinstance(entry, dict) else None
        if reason not in CANCEL_REASONS:
            violations.append(_invalid_value("orderItems[0].reasonCode", reason, CANCEL_REASONS))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    item_id = items[0]["orderItemId"]  # type: ignore[index]
    process = sim._start_process(
        "CANCEL_ORDER", f"Cancel order item {item_id}.", item_id, sim._apply_cancellation(item_id)
    )
    return _json(sim.process_json(process, call.base_url), 202)

