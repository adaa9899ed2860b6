"""The GraphQL documents the Shopify plugin sends, pinned to one Admin API version.

Every document lives here so one test can validate all of them against the official schema
of ``API_VERSION``, and so the client can estimate each one's cost before sending it.
Nested page sizes are chosen so that every document stays under Shopify's single-query
maximum cost of 1,000 points.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The one place the Admin API version is pinned; the simulator serves the same version.
API_VERSION = "2025-01"
GRAPHQL_PATH = f"/admin/api/{API_VERSION}/graphql.json"
TOKEN_PATH = "/admin/oauth/access_token"


@dataclass(frozen=True)
class Operation:
    """A named GraphQL document; ``mutation`` tells the client a lost answer is an unknown outcome."""

    name: str
    document: str
    mutation: bool = False


_ADDRESS = """
fragment KadeAddress on MailingAddress {
  name firstName lastName company address1 address2 zip city countryCodeV2 phone
}
"""

_LINE = """
fragment KadeLine on LineItem {
  id sku name quantity currentQuantity unfulfilledQuantity
  originalUnitPriceSet { shopMoney { amount } }
  variant { id barcode inventoryItem { id } }
}
"""

#: Line items fetched with each order; orders with more are completed with ``ORDER_LINES``.
ORDER_LINES_PER_PAGE = 10

ORDERS = Operation(
    "KadeOrders",
    """
query KadeOrders($first: Int!, $after: String, $query: String, $lineItems: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id legacyResourceId name createdAt updatedAt cancelledAt cancelReason closed
      displayFinancialStatus displayFulfillmentStatus currencyCode email phone
      totalPriceSet { shopMoney { amount currencyCode } }
      billingAddress { ...KadeAddress }
      shippingAddress { ...KadeAddress }
      lineItems(first: $lineItems) {
        pageInfo { hasNextPage endCursor }
        nodes { ...KadeLine }
      }
    }
  }
}
"""
    + _ADDRESS
    + _LINE,
)

ORDER_LINES = Operation(
    "KadeOrderLines",
    """
query KadeOrderLines($id: ID!, $after: String) {
  order(id: $id) {
    id
    lineItems(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...KadeLine }
    }
  }
}
"""
    + _LINE,
)

FULFILLMENT_ORDERS = Operation(
    "KadeFulfillmentOrders",
    """
query KadeFulfillmentOrders($id: ID!, $after: String) {
  order(id: $id) {
    id name cancelledAt closed displayFulfillmentStatus
    fulfillmentOrders(first: 4, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id status
        assignedLocation { location { id } }
        lineItems(first: 100) {
          pageInfo { hasNextPage }
          nodes { id remainingQuantity totalQuantity lineItem { id } }
        }
      }
    }
  }
}
""",
)

ORDER_FULFILLMENTS = Operation(
    "KadeOrderFulfillments",
    """
query KadeOrderFulfillments($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 20) {
      id status
      trackingInfo(first: 3) { company number url }
      fulfillmentLineItems(first: 20) {
        pageInfo { hasNextPage }
        nodes { quantity lineItem { id } }
      }
    }
  }
}
""",
)

FULFILLMENT_CREATE = Operation(
    "KadeFulfillmentCreate",
    """
mutation KadeFulfillmentCreate($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo(first: 1) { company number url } }
    userErrors { field message }
  }
}
""",
    mutation=True,
)

INVENTORY_SET = Operation(
    "KadeInventorySet",
    """
mutation KadeInventorySet($input: InventorySetQuantitiesInput!) {
  inventorySetQuantities(input: $input) {
    inventoryAdjustmentGroup {
      id reason
      changes { name delta quantityAfterChange item { id } location { id } }
    }
    userErrors { code field message }
  }
}
""",
    mutation=True,
)

ORDER_CANCEL = Operation(
    "KadeOrderCancel",
    """
mutation KadeOrderCancel(
  $orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!, $restock: Boolean!,
  $notifyCustomer: Boolean, $staffNote: String
) {
  orderCancel(
    orderId: $orderId, reason: $reason, refund: $refund, restock: $restock,
    notifyCustomer: $notifyCustomer, staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { code field message }
  }
}
""",
    mutation=True,
)

PRODUCT_VARIANTS = Operation(
    "KadeProductVariants",
    """
query KadeProductVariants($first: Int!, $after: String) {
  productVariants(first: $first, after: $after, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes { id sku barcode displayName price inventoryItem { id tracked } }
  }
}
""",
)

STOCK_LEVELS = Operation(
    "KadeStockLevels",
    """
query KadeStockLevels($locationId: ID!, $first: Int!, $after: String) {
  location(id: $locationId) {
    id
    inventoryLevels(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        quantities(names: ["available"]) { name quantity }
        item { id sku }
      }
    }
  }
}
""",
)

#: The nightly check's export: what ``STOCK_LEVELS`` pages through, as one bulk query. A bulk
#: query takes no variables, so ``bulk_stock_query`` puts the location's number into the search
#: string; each inventory level comes back as a JSONL line whose ``__parentId`` is the location.
BULK_STOCK = Operation(
    "KadeBulkStock",
    """
query KadeBulkStock {
  locations(query: "id:LOCATION_NUMBER") {
    edges {
      node {
        id
        inventoryLevels {
          edges {
            node {
              quantities(names: ["available"]) { name quantity }
              item { id sku }
            }
          }
        }
      }
    }
  }
}
""",
)

_BULK_OPERATION = """
fragment KadeBulkOperation on BulkOperation { id status errorCode objectCount url query }
"""

BULK_RUN = Operation(
    "KadeBulkRun",
    """
mutation KadeBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { ...KadeBulkOperation }
    userErrors { code field message }
  }
}
"""
    + _BULK_OPERATION,
    mutation=True,
)

#: Before starting an export: does the location exist, and is a bulk query already running?
BULK_CURRENT = Operation(
    "KadeBulkCurrent",
    """
query KadeBulkCurrent($locationId: ID!) {
  location(id: $locationId) { id }
  currentBulkOperation(type: QUERY) { ...KadeBulkOperation }
}
"""
    + _BULK_OPERATION,
)

BULK_POLL = Operation(
    "KadeBulkPoll",
    """
query KadeBulkPoll($id: ID!) {
  node(id: $id) { ...KadeBulkOperation }
}
"""
    + _BULK_OPERATION,
)


def bulk_stock_query(location_gid: str) -> str:
    """``BULK_STOCK`` for one location (a ``gid://shopify/Location/N``)."""
    number = location_gid.rsplit("/", 1)[-1]
    if not number.isdigit():
        raise ValueError(f"{location_gid!r} is not a location id")
    return BULK_STOCK.document.replace("LOCATION_NUMBER", number)


SHOP = Operation(
    "KadeShop",
    """
query KadeShop {
  shop { name myshopifyDomain currencyCode }
  locations(first: 50) { nodes { id name isActive fulfillsOnlineOrders } }
}
""",
)

ALL: tuple[Operation, ...] = (
    ORDERS,
    ORDER_LINES,
    FULFILLMENT_ORDERS,
    ORDER_FULFILLMENTS,
    FULFILLMENT_CREATE,
    INVENTORY_SET,
    ORDER_CANCEL,
    PRODUCT_VARIANTS,
    STOCK_LEVELS,
    BULK_STOCK,
    BULK_RUN,
    BULK_CURRENT,
    BULK_POLL,
    SHOP,
)
