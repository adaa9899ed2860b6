"""Every GraphQL document the plugin sends is valid against Shopify's official 2025-01 schema,
and the client's cost estimate equals the cost the simulator computes from that schema."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from graphql import parse, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.plugins.shopify import plugin, queries
from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.cost import requested_cost
from kade.types import (
    CancelRequest,
    OrderQuery,
    ShipmentRequest,
    ShipmentRequestLine,
    StockUpdate,
)

SAMPLE_VARIABLES = {"first": 10, "lineItems": queries.ORDER_LINES_PER_PAGE}


@pytest.mark.parametrize("op", queries.ALL, ids=lambda op: op.name)
def test_document_is_valid_against_the_official_schema(official_schema, op):
    errors = validate(official_schema, parse(op.document))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("op", queries.ALL, ids=lambda op: op.name)
def test_document_kind_matches_its_operation(op):
    definition = next(d for d in parse(op.document).definitions if hasattr(d, "operation"))
    assert definition.name.value == op.name
    assert (definition.operation.value == "mutation") is op.mutation


def test_api_version_is_pinned_once():
    assert queries.GRAPHQL_PATH == "/admin/api/2025-01/graphql.json"
    assert sm.SCHEMA_FILE.name.endswith("2025-01.introspection.json.gz")


def _simulated_cost(op, variables):
    schema = sm.load_schema()
    document = parse(op.document)
    definition = next(d for d in document.definitions if hasattr(d, "operation"))
    return sm._Cost(schema, document, variables).requested(definition)


@pytest.mark.parametrize("op", queries.ALL, ids=lambda op: op.name)
def test_estimated_cost_matches_the_simulator_and_fits_the_single_query_cap(op):
    variables = dict(SAMPLE_VARIABLES)
    if op is queries.PRODUCT_VARIANTS:
        variables["first"] = plugin.PRODUCT_PAGE
    if op is queries.STOCK_LEVELS:
        variables["first"] = plugin.STOCK_PAGE
    estimate = requested_cost(op.document, variables)
    assert estimate == _simulated_cost(op, variables)
    assert estimate <= sm.MAX_QUERY_COST


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(0, 250), lines=st.integers(0, 250))
def test_estimate_equals_schema_cost_for_any_page_size(first, lines):
    variables = {"first": first, "lineItems": lines}
    for op in (queries.ORDERS, queries.PRODUCT_VARIANTS, queries.STOCK_LEVELS):
        assert requested_cost(op.document, variables) == _simulated_cost(op, variables)


def test_order_page_size_keeps_a_page_under_the_cost_cap(make_ctx):
    ctx = make_ctx(settings={"order_page_size": 250})
    size = plugin._order_page_size(ctx)
    cost = requested_cost(queries.ORDERS.document, {"first": size, "lineItems": queries.ORDER_LINES_PER_PAGE})
    assert cost <= sm.MAX_QUERY_COST
    assert requested_cost(queries.ORDERS.document, {"first": size + 1, "lineItems": 10}) > sm.MAX_QUERY_COST


def test_every_document_the_simulator_received_is_valid(official_schema, sim, ctx, clock):
    """Drive every hook, then validate what actually went over the wire."""
    order = sim.add_order([(v, 2) for v in list(sim.variants.values())[:2]])
    other = sim.add_order([(next(iter(sim.variants.values())), 1)])
    page = plugin.import_orders(ctx, OrderQuery())
    plugin.import_orders(ctx, OrderQuery(since=datetime(2025, 1, 1, tzinfo=UTC)))
    products = plugin.read_products(ctx, None).products
    plugin.read_stock(ctx, None)
    plugin.read_stock_paged(ctx, None)
    plugin.push_stock(ctx, [StockUpdate(remote_product_id=products[0].remote_id, quantity=3, previous_quantity=0)])
    remote = next(o for o in page.orders if o.remote_id == sm.gid("Order", order.id))
    shipment = ShipmentRequest(
        shipment_id=1,
        order_remote_id=remote.remote_id,
        order_number=remote.number,
        lines=(ShipmentRequestLine(remote_line_id=remote.lines[0].remote_line_id, quantity=1),),
        carrier="PostNL",
        tracking_code="3SKADE1",
        idempotency_key="s1",
    )
    plugin.report_shipment(ctx, shipment)
    plugin.check_shipment(ctx, shipment, None)
    plugin.cancel_order(ctx, CancelRequest(order_remote_id=sm.gid("Order", other.id), order_number=other.name))
    plugin.check_connection(ctx)
    # all but the line continuation (orders are short) and the bulk query, sent as a mutation's argument
    assert len(sim.documents) == len(queries.ALL) - 2
    bulk_queries = [op.query for op in sim.bulk_operations.values()]
    assert len(bulk_queries) == 1
    for document in [*sim.documents, *bulk_queries]:
        errors = validate(official_schema, parse(document))
        assert errors == [], [e.message for e in errors]
