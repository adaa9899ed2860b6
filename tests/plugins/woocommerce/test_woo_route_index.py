"""The plugin and the simulator against WooCommerce's own route index (``GET /wp-json/wc/v3``).

The index copy in ``shared/specs`` comes from the REST API docs repository and predates a few
arguments the plugin relies on; those are listed in ``NEWER_ARGS`` with their source, and
everything else must be declared in the index exactly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import WooSimulator, WooState
from kade.types import CancelRequest, ConnectionContext, OrderQuery, ShipmentRequest, ShipmentRequestLine, StockUpdate

INDEX = Path(__file__).resolve().parents[3] / ".." / "shared" / "specs" / "woocommerce-wc-v3-route-index.json"

#: arguments added to WooCommerce after the index snapshot (route, method) → names
_DATES = {"modified_after", "modified_before", "dates_are_gmt"}
NEWER_ARGS: dict[tuple[str, str], set[str]] = {
    # modified_after/before: woocommerce/woocommerce#30585 (WC 5.8); dates_are_gmt: #28132 (WC 5.4)
    ("/wc/v3/orders", "GET"): _DATES,
    ("/wc/v3/products", "GET"): _DATES,
    ("/wc/v3/products/(?P<product_id>[\\d]+)/variations", "GET"): _DATES,
    # added_by_user: REST API docs, _order-notes.md (shared/platforms §3.3)
    ("/wc/v3/orders/(?P<order_id>[\\d]+)/notes", "POST"): {"added_by_user"},
}
AUTH_PARAMS = re.compile(r"^(oauth_\w+|consumer_key|consumer_secret)$")
BATCH_KEYS = {"create", "update", "delete"}


@pytest.fixture(scope="module")
def index() -> dict[str, Any]:
    if not INDEX.is_file():
        pytest.skip(f"route index not available at {INDEX} (shared/ is outside the repository)")
    data: dict[str, Any] = json.loads(INDEX.read_text())
    return data


def find_route(index: dict[str, Any], path: str) -> tuple[str, dict[str, Any]]:
    for pattern, route in index["routes"].items():
        if re.fullmatch(pattern, path):
            return pattern, route
    raise AssertionError(f"{path} is not a route in the WooCommerce index")


def endpoint(route: dict[str, Any], method: str) -> dict[str, Any]:
    for candidate in route["endpoints"]:
        if method in candidate["methods"]:
            return candidate
    raise AssertionError(f"{method} is not allowed on {route['endpoints']}")


def run_every_hook(sim: WooState, ctx: ConnectionContext) -> None:
    parent = sim.add_product(sku="TEE", manage_stock=False, stock=None)
    small = sim.add_variation(parent, sku="TEE-S")
    simple = sim.add_product(sku="MUG")
    order = sim.create_order([(simple, 2), (small, 1)])
    sim.refund_lines(order, {order.line_items[0].id: 1})
    doomed = sim.create_order([(simple, 1)])

    since = ctx.now() - timedelta(days=1)
    for query in (OrderQuery(), OrderQuery(since=since)):
        assert plugin.import_orders(ctx, query) is not None
    assert plugin.read_products(ctx, None) is not None
    assert plugin.read_stock(ctx, None) is not None
    updates = [
        StockUpdate(remote_product_id=str(simple.id), quantity=3),
        StockUpdate(remote_product_id=f"{parent.id}/{small.id}", quantity=4),
    ]
    assert plugin.push_stock(ctx, updates) is not None
    shipment = ShipmentRequest(
        shipment_id=1,
        order_remote_id=str(order.id),
        order_number=order.number,
        lines=(ShipmentRequestLine(remote_line_id=str(order.line_items[0].id), quantity=1),),
        carrier="PostNL",
        tracking_code="3S1",
        idempotency_key="k1",
    )
    assert plugin.report_shipment(ctx, shipment) is not None
    assert plugin.check_shipment(ctx, shipment, None) is not None
    assert plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(doomed.id), order_number=doomed.number))
    assert plugin.check_connection(ctx) is not None
    assert plugin.migrate_connection(ctx, "wc_auth", dict(ctx.credentials)) is not None


@pytest.fixture
def recorded(sim: WooState, http: httpx.Client, ctx: ConnectionContext) -> list[httpx.Request]:
    requests: list[httpx.Request] = []
    http.event_hooks["request"].append(requests.append)
    run_every_hook(sim, ctx)
    return requests


def sent_args(request: httpx.Request) -> Iterator[tuple[str, Any]]:
    for name, value in request.url.params.multi_items():
        if not AUTH_PARAMS.match(name):
            yield name, value
    if request.content:
        body = json.loads(request.content)
        yield from body.items()


def test_every_call_the_plugin_makes_is_in_the_index(index: dict[str, Any], recorded: list[httpx.Request]) -> None:
    seen = set()
    for request in recorded:
        path = request.url.path.removeprefix("/wp-json")
        if not path.startswith("/wc/v3/"):
            assert path.startswith("/wc-shipment-tracking/v3/"), path  # the extension has its own namespace
            continue
        pattern, route = find_route(index, path)
        spec = endpoint(route, request.method)
        declared = set(spec["args"]) | NEWER_ARGS.get((pattern, request.method), set())
        for name, value in sent_args(request):
            if pattern.endswith("/batch") and name in BATCH_KEYS:
                for item in value:
                    assert set(item) - {"id"} <= declared, f"{request.method} {pattern}: {item}"
                continue
            assert name in declared, f"{request.method} {pattern} sends undeclared argument {name!r}"
            arg = spec["args"].get(name)
            if arg and "enum" in arg:
                assert value in arg["enum"], f"{name}={value!r} is not one of {arg['enum']}"
            if arg and arg.get("type") == "integer":
                assert str(value).isdigit(), f"{name}={value!r} is not an integer"
            if arg and arg.get("type") == "boolean":
                assert value in (True, False, "true", "false"), f"{name}={value!r} is not a boolean"
        seen.add((request.method, pattern))
    assert ("GET", "/wc/v3/orders") in seen
    assert ("POST", "/wc/v3/products/batch") in seen
    assert ("POST", "/wc/v3/products/(?P<product_id>[\\d]+)/variations/batch") in seen
    assert ("POST", "/wc/v3/orders/(?P<order_id>[\\d]+)/notes") in seen
    assert ("PUT", "/wc/v3/orders/(?P<id>[\\d]+)") in seen
    assert ("GET", "/wc/v3/orders/(?P<order_id>[\\d]+)/refunds") in seen


def test_the_simulator_serves_only_indexed_routes_methods_and_args(index: dict[str, Any], app: WooSimulator) -> None:
    for route in app.routes:
        if route.namespace != "wc/v3":
            continue
        assert route.pattern in index["routes"], route.pattern
        indexed = index["routes"][route.pattern]
        for method, (_, args) in route.methods.items():
            spec = endpoint(indexed, method)
            extra = set(args) - set(spec["args"]) - NEWER_ARGS.get((route.pattern, method), set())
            assert not extra, f"{method} {route.pattern}: {extra} are not in the index"
            for name, arg in args.items():
                indexed_enum = spec["args"].get(name, {}).get("enum")
                if indexed_enum and arg.enum:
                    assert set(indexed_enum) <= set(arg.enum), f"{name}: the store refuses indexed values"


def test_the_index_collection_defaults_are_what_the_store_caps(index: dict[str, Any], http, key) -> None:
    orders = index["routes"]["/wc/v3/orders"]["endpoints"][0]["args"]
    assert orders["per_page"]["default"] == 10
    answer = http.get("/wp-json/wc/v3/orders", auth=(key.consumer_key, key.consumer_secret))
    assert answer.status_code == 200 and answer.headers["x-wp-total"] == "0"
    options = http.options("/wp-json/wc/v3/orders")
    assert options.status_code == 200
    assert {"modified_after", "dates_are_gmt", "per_page"} <= set(options.json()["endpoints"][0]["args"])
