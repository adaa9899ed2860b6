"""``/retailer/offers``: stock updates and the offer export."""

from __future__ import annotations

from starlette.responses import Response

from kade.plugins.bol.protocol import CSV_TYPE
from kade.plugins.bol.simulator.gateway import Call, _invalid_value, _json, problem
from kade.plugins.bol.simulator.state import BolSimState


def update_offer_stock(sim: BolSimState, call: Call) -> Response:
    offer_id = call.path_params["offer_id"]
    body = call.body
    violations: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "The request body must be a JSON object.", instance=call.url)
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= 999:
        violations.append(("amount", "must be a whole number between 0 and 999"))
    managed = body.get("managedByRetailer")
    if not isinstance(managed, bool):
        violations.append(("managedByRetailer", "must not be null"))
    offer = sim.offers.get(offer_id)
    if offer is None:
        violations.append(("offer-id", f"Offer {offer_id} does not exist."))
    elif offer.fulfilment == "FBB":
        violations.append(("offer-id", f"Offer {offer_id} is fulfilled by bol; its stock is managed by bol."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    assert isinstance(amount, int) and isinstance(managed, bool)
    process = sim._start_process(
        "UPDATE_OFFER_STOCK",
        f"Update stock for offer {offer_id}.",
        offer_id,
        sim._apply_stock(offer_id, amount, managed),
    )
    return _json(sim.process_json(process, call.base_url), 202)


def create_offer_export(sim: BolSimState, call: Call) -> Response:
    body = call.body
    if not isinstance(body, dict) or body.get("format") != "CSV":
        fmt = body.get("format") if isinstance(body, dict) else None
        return problem(
            400,
            "Bad Request",
            "Validation error",
            instance=call.url,
            violations=[_invalid_value("format", fmt, ("CSV",))],
        )
    process = sim._start_process("CREATE_OFFER_EXPORT", "Create an offer export.", None, sim._apply_export)
    return _json(sim.process_json(process, call.base_url), 202)


def get_offer_export(sim: BolSimState, call: Call) -> Response:
    report = sim.reports.get(call.path_params["report_id"])
    if report is None:
        return problem(
            404,
            "Not Found",
            f"Report {call.path_params['report_id']} not found.",
            instance=call.url,
            media_type=CSV_TYPE,
        )
    return Response(report[1], 200, media_type=CSV_TYPE)

