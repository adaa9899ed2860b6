"""Translation edge cases and the schema-less cost estimator on unusual documents."""

from __future__ import annotations

from decimal import Decimal

import pytest
from graphql import parse

from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.cost import requested_cost
from kade.plugins.shopify.mapping import (
    MappingError,
    address_from_node,
    order_from_node,
    order_gid_from_rest,
    product_from_variant,
    stock_from_level,
    to_gid,
)


def line(**overrides):
    node = {
        "id": "gid://shopify/LineItem/1",
        "sku": "A",
        "name": "A - Default",
        "quantity": 2,
        "currentQuantity": 2,
        "unfulfilledQuantity": 2,
        "originalUnitPriceSet": {"shopMoney": {"amount": "4.50"}},
        "variant": {
            "id": "gid://shopify/ProductVariant/1",
            "barcode": "871",
            "inventoryItem": {"id": "gid://shopify/InventoryItem/1"},
        },
    }
    node.update(overrides)
    return node


def order(**overrides):
    node = {
        "id": "gid://shopify/Order/1",
        "name": "#1001",
        "createdAt": "2025-03-01T12:00:00Z",
        "updatedAt": "2025-03-01T12:05:00Z",
        "cancelledAt": None,
        "displayFulfillmentStatus": "UNFULFILLED",
        "currencyCode": "EUR",
        "email": "a@example.com",
        "phone": None,
        "totalPriceSet": {"shopMoney": {"amount": "9.00", "currencyCode": "EUR"}},
        "billingAddress": None,
        "shippingAddress": {"firstName": "Anna", "lastName": "de Vries", "address1": "Kade 1", "address2": "2 hoog"},
    }
    node.update(overrides)
    return node


def test_to_gid():
    assert to_gid("Location", 12) == "gid://shopify/Location/12"
    assert to_gid("Location", "gid://shopify/Location/12") == "gid://shopify/Location/12"
    with pytest.raises(MappingError):
        to_gid("Location", "gid://shopify/Order/12")
    with pytest.raises(MappingError):
        to_gid("Location", "warehouse")


def test_a_regular_order():
    remote = order_from_node(order(), [line()])
    assert remote.total == Decimal("9.00") and remote.lines[0].unit_price == Decimal("4.50")
    assert remote.shipping_address.name == "Anna de Vries"
    assert remote.shipping_address.street == "Kade 1, 2 hoog"
    assert remote.billing_address.email == "a@example.com" and remote.billing_address.street == ""


@pytest.mark.parametrize(
    ("node", "lines", "reason"),
    [
        (order(id="1"), [line()], "order id '1' is not a Shopify global id"),
        (order(name=""), [line()], "order has no name"),
        (order(createdAt="yesterday"), [line()], "createdAt 'yesterday' is not an ISO 8601 date-time"),
        (order(updatedAt=None), [line()], "updatedAt is missing"),
        (order(totalPriceSet={"shopMoney": {"amount": "NaN", "currencyCode": "EUR"}}), [line()], "not a finite"),
        (order(), [line(quantity=-1)], "quantity -1 is negative"),
        (order(), [line(quantity="2")], "quantity '2' is not a whole number"),
        (order(), [line(currentQuantity=3)], "currentQuantity 3 exceeds its quantity 2"),
        (order(), [line(id=None)], "a line item has no id"),
        (order(), [line(), line()], "appears twice"),
        (order(), [line(originalUnitPriceSet={"shopMoney": {"amount": "x"}})], "price 'x' is not a decimal"),
    ],
)
def test_malformed_orders_say_why(node, lines, reason):
    with pytest.raises(MappingError, match=reason.replace("(", r"\(")):
        order_from_node(node, lines)


def test_bad_currency_is_a_validation_error():
    with pytest.raises(ValueError, match="ISO 4217"):
        order_from_node(order(totalPriceSet={"shopMoney": {"amount": "1", "currencyCode": "euro"}}), [line()])


def test_custom_line_without_variant():
    remote = order_from_node(order(), [line(variant=None, sku=None, originalUnitPriceSet=None)])
    assert remote.lines[0].sku is None and remote.lines[0].remote_product_id is None
    assert remote.lines[0].unit_price == Decimal("0")


def test_shipped_and_cancelled_quantities():
    shipped_one = line(quantity=3, currentQuantity=2, unfulfilledQuantity=1)
    open_line = order_from_node(order(), [shipped_one]).lines[0]
    assert (open_line.quantity_shipped, open_line.quantity_cancelled) == (1, 1)
    cancelled = order_from_node(
        order(cancelledAt="2025-03-02T00:00:00Z"), [line(quantity=3, currentQuantity=1, unfulfilledQuantity=0)]
    )
    assert (cancelled.lines[0].quantity_shipped, cancelled.lines[0].quantity_cancelled) == (1, 2)


def test_products_stock_and_rest_ids():
    with pytest.raises(MappingError, match="no inventory item"):
        product_from_variant({"id": "gid://shopify/ProductVariant/1", "inventoryItem": None})
    product = product_from_variant(
        {"id": "v", "sku": "", "barcode": None, "price": None, "inventoryItem": {"id": "i", "tracked": False}}
    )
    assert product.sku is None and product.price is None and not product.manages_stock
    with pytest.raises(MappingError):
        stock_from_level({"item": None})
    stock = stock_from_level(
        {"item": {"id": "gid://shopify/InventoryItem/1"}, "quantities": [{"name": "on_hand", "quantity": 4}]}
    )
    assert stock.quantity is None
    with pytest.raises(MappingError):  # no inventory item id: nothing it could be matched to
        stock_from_level({"item": {"id": "i"}, "quantities": []})
    assert order_gid_from_rest({"id": 5}) == "gid://shopify/Order/5"
    assert order_gid_from_rest({"id": True}) is None
    assert address_from_node(None, email="x@example.com").email == "x@example.com"


UNUSUAL = """
# aliases, inline fragments, edges, directives and fragments all count the same way
query Unusual($n: Int!) {
  a: shop { name }
  orders(first: $n) @include(if: true) {
    edges { cursor node { id ... on Order { lineItems(first: 2) { edges { node { id variant { id } } } } } } }
  }
  locations(first: 2) { nodes { ...Loc @include(if: true) } }
  order(id: "gid://shopify/Order/1") { fulfillments(first: 3) { trackingInfo(first: 2) { number } } }
}
fragment Loc on Location { id name inventoryLevels(first: 4) { pageInfo { hasNextPage } nodes { id } } }
"""


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (UNUSUAL, {"n": 7}),
        (
            'mutation { a: orderCancel(orderId: "x", refund: false, restock: false, reason: OTHER) { job { id } }'
            ' b: fulfillmentCreate(fulfillment: {lineItemsByFulfillmentOrder: [{fulfillmentOrderId: "y"}]}) '
            "{ userErrors { message } } }",
            {},
        ),
        ('{ productVariants(first: 3, query: "sku:\\"A B\\"") { nodes { id } } }', {}),
    ],
)
def test_estimator_matches_the_schema_on_unusual_documents(document, variables):
    parsed = parse(document)
    op = next(d for d in parsed.definitions if hasattr(d, "operation"))
    expected = sm._Cost(sm.load_schema(), parsed, variables).requested(op)
    assert requested_cost(document, variables) == expected


def test_estimator_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="no operation"):
        requested_cost("fragment F on Shop { name }")
    with pytest.raises(ValueError, match="several operations"):
        requested_cost("query A { shop { name } } query B { shop { name } }")
    with pytest.raises(ValueError, match="unexpected character"):
        requested_cost("{ shop { name } } %")
