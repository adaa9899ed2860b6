"""``/shared/process-status``: one, by entity, and in bulk."""

from __future__ import annotations

from starlette.responses import Response

from kade.plugins.bol.protocol import PAGE_SIZE
from kade.plugins.bol.simulator.gateway import Call, _json, _page, problem
from kade.plugins.bol.simulator.state import BolSimState


def get_process_status(sim: BolSimState, call: Call) -> Response:
    process = sim.processes.get(call.path_params["process_id"])
    if process is None:
        return problem(
            404, "Not Found", f"Process status {call.path_params['process_id']} not found.", instance=call.url
        )
    return _json(sim.process_json(process, call.base_url))


def find_process_statuses(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    entity_id = call.query.get("entity-id")
    event_type = call.query.get("event-type")
    if not entity_id:
        violations.append(("entity-id", "must not be null"))
    if not event_type:
        violations.append(("event-type", "must not be null"))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    found = [p for p in sim.processes.values() if p.entity_id == entity_id and p.event_type == event_type]
    found.sort(key=lambda p: int(p.process_id), reverse=True)
    chunk = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return _json({"processStatuses": [sim.process_json(p, call.base_url) for p in chunk]})


def bulk_process_statuses(sim: BolSimState, call: Call) -> Response:
    body = call.body
    queries = body.get("processStatusQueries") if isinstance(body, dict) else None
    if not isinstance(queries, list) or not 1 <= len(queries) <= 1000:
        return problem(
            400,
            "Bad Request",
            "Validation error",
            instance=call.url,
            violations=[("processStatusQueries", "size must be between 1 and 1000")],
        )
    ids = [q.get("processStatusId") for q in queries if isinstance(q, dict)]
    found = [sim.processes[i] for i in ids if isinstance(i, str) and i in sim.processes]
    return _json({"processStatuses": [sim.process_json(p, call.base_url) for p in found]})
