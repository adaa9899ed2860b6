"""The simulator (and the plugin's requests) checked against bol's official OpenAPI descriptions.

Every exchange of a realistic session is matched to its operation: the status code must be one
the spec documents (error statuses the spec leaves out, like 400 on GET /retailer/orders or 401
and 429 from the gateway, must at least be a ``Problem``), media types must match, and request
and response bodies must validate against the operation's schemas.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bol_testkit import PARTNER, REDIRECT_URI, SimTransport, make_bol

from kade.errors import NotFound, RejectedByStore
from kade.plugins.bol import plugin
from kade.plugins.bol.protocol import CSV_TYPE, JSON_TYPE
from kade.types import CancelRequest, OrderQuery, ShipmentRequest, ShipmentRequestLine, StockUpdate, iter_pages

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is needed to validate against the spec")

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
RETAILER_SPEC = SHARED / "specs" / "bol-retailer-v10.json"
SHARED_SPEC = SHARED / "specs" / "bol-shared-v10.json"

#: bol answers an empty list as {} although the spec requires the array (picqer README, "Known quirks")
EMPTY_OBJECT_QUIRK = {"get-orders", "get-shipments"}


class Recorder(SimTransport):
    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.exchanges.append((request, response))
        return response


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        pytest.skip(f"bol OpenAPI spec not found at {path} (shared/ is not checked out next to the repo)")
    spec: dict[str, Any] = json.loads(path.read_text())
    return spec


def _operations(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    found = []
    for template, methods in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
        for method, operation in methods.items():
            found.append((pattern, method.upper(), operation))
    # literal paths before templated ones (/retailer/offers/export before /retailer/offers/{offer-id})
    found.sort(key=lambda item: item[0].pattern.count("[^/]+"))
    return found


def _format_checker() -> Any:
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _datetime(value: object) -> bool:
        return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

    @checker.checks("date", raises=ValueError)
    def _date(value: object) -> bool:
        return not isinstance(value, str) or bool(date.fromisoformat(value))

    return checker


def _validate(spec: dict[str, Any], schema: dict[str, Any], instance: Any, where: str) -> None:
    validator = jsonschema.Draft202012Validator(
        {**schema, "components": spec["components"]}, format_checker=_format_checker()
    )
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, f"{where}: {errors[0].message} at {list(errors[0].absolute_path)}"


def _session(recorder_bol: Any) -> None:
    """A realistic session touching every endpoint the plugin uses, errors included."""
    bol = recorder_bol
    fbr = bol.sim.add_offer("8710000000011", reference="SKU-1", stock=4)
    fbb = bol.sim.add_offer("8710000000028", fulfilment="FBB")
    shipped = bol.sim.add_order([(fbr, 2), (fbb, 1)])
    to_cancel = bol.sim.add_order([(fbr, 1)], cancellation_request=True)
    bol.sim.add_order([(fbb, 1)])
    gone = bol.sim.add_order([(fbr, 1)])
    bol.sim.cancel_item(gone.items[0].order_item_id)

    ctx = bol.ctx()
    page = plugin.import_orders(ctx, OrderQuery())
    assert page.orders
    plugin.import_orders(ctx, OrderQuery(page_token="o:2"))  # the {} page

    shipment = ShipmentRequest(
        shipment_id=1,
        order_remote_id=shipped.order_id,
        order_number=shipped.order_id,
        lines=(ShipmentRequestLine(remote_line_id=shipped.items[0].order_item_id, quantity=1),),
        carrier="DHL",
        tracking_code="JVGL0123",
        idempotency_key="kade-shipment-1",
    )
    plugin.report_shipment(ctx, shipment)
    assert plugin.check_shipment(ctx, shipment, None) is not None
    other = shipment.model_copy(update={"idempotency_key": "never-sent"})
    assert plugin.check_shipment(ctx, other, None) is None
    with pytest.raises(RejectedByStore):  # a process FAILURE is part of the session
        plugin.report_shipment(
            ctx,
            shipment.model_copy(
                update={
                    "order_remote_id": gone.order_id,
                    "idempotency_key": "x",
                    "lines": (ShipmentRequestLine(remote_line_id=gone.items[0].order_item_id, quantity=1),),
                }
            ),
        )
    plugin.cancel_order(
        ctx, CancelRequest(order_remote_id=to_cancel.order_id, order_number="2", reason="requested_by_customer")
    )
    plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id=fbr.offer_id, quantity=3),
            StockUpdate(remote_product_id=fbb.offer_id, quantity=3),
        ],
    )
    assert list(iter_pages(lambda t: plugin.read_stock(ctx, t)))
    with pytest.raises(RejectedByStore):
        plugin.import_orders(ctx, OrderQuery(page_token="o:0"))
    with pytest.raises(NotFound):
        plugin.cancel_order(ctx, CancelRequest(order_remote_id="404", order_number="404"))
    bol.clock.advance(400)  # an expired token is refreshed after a 401
    plugin.import_orders(ctx, OrderQuery())
    code = bol.sim.issue_auth_code(PARTNER[0], REDIRECT_URI)
    plugin.migrate_connection(
        ctx,
        "authorization_code",
        {"client_id": PARTNER[0], "client_secret": PARTNER[1], "code": code, "redirect_uri": REDIRECT_URI},
    )


def test_simulator_exchanges_match_the_official_openapi() -> None:
    retailer = _load(RETAILER_SPEC)
    shared = _load(SHARED_SPEC)
    specs = [(retailer, _operations(retailer)), (shared, _operations(shared))]

    bol, plain = make_bol(process_delay=0.0, process_delays={"CREATE_OFFER_EXPORT": 0.0})
    plain.close()
    recorder = Recorder(plain._asgi.app)
    bol.http = httpx.Client(transport=recorder, base_url="https://api.bol.com")
    try:
        _session(bol)
    finally:
        bol.http.close()
        recorder.close()

    checked: dict[str, set[int]] = {}
    for request, response in recorder.exchanges:
        path = request.url.path
        if not path.startswith(("/retailer", "/shared")):
            continue
        match = next(
            (
                (spec, op)
                for spec, ops in specs
                for pattern, method, op in ops
                if method == request.method and pattern.match(path)
            ),
            None,
        )
        assert match is not None, f"{request.method} {path} is not in the spec"
        spec, operation = match
        op_id = operation["operationId"]
        where = f"{request.method} {path} ({op_id}) → {response.status_code}"
        checked.setdefault(op_id, set()).add(response.status_code)

        declared = operation.get("requestBody", {}).get("content")
        if declared:
            assert request.headers["content-type"] in declared, where
            _validate(spec, declared[request.headers["content-type"]]["schema"], json.loads(request.content), where)

        media_type = response.headers.get("content-type", "").split(";")[0]
        documented = operation["responses"].get(str(response.status_code))
        if documented is None:
            assert response.status_code in (400, 401, 403, 404, 406, 415, 429) or response.status_code >= 500, where
            assert media_type == JSON_TYPE, where
            _validate(retailer, {"$ref": "#/components/schemas/Problem"}, response.json(), where)
            continue
        content = documented.get("content")
        if not content:
            assert op_id == "get-offer-export" and media_type == CSV_TYPE, where
            continue
        assert media_type in content, f"{where}: {media_type} not in {list(content)}"
        body = response.json()
        if body == {} and op_id in EMPTY_OBJECT_QUIRK:
            continue
        _validate(spec, content[media_type]["schema"], body, where)

    assert {
        "get-orders",
        "get-order",
        "cancel-order-item",
        "create-shipment",
        "get-shipments",
        "update-offer-stock",
        "post-offer-export",
        "get-offer-export",
        "get-process-status",
        "get-process-status-entity-id",
    } <= set(checked)
    assert 401 in checked["get-orders"] and 400 in checked["get-orders"] and 404 in checked["get-order"]
