"""A stateful Shopify Admin API simulator (ASGI), strict where the real one is strict.

It executes real GraphQL against the official 2025-01 Admin schema (built from Shopify's
introspection), so a document with an unknown field, a wrong argument or a bad variable fails
here as it fails on Shopify: HTTP 200 with a top-level ``errors`` array. On top of that it
enforces what the plugin must cope with:

* auth: the static admin token header, and the client-credentials grant issuing tokens that
  expire after 24 hours of simulated time;
* the calculated query cost and a leaky bucket per app (THROTTLED as HTTP 200, single-query
  maximum of 1,000 points), reported in ``extensions.cost`` on every response;
* cursor paging capped at 250, the orders search syntax (``updated_at:>'…'``, ``status:``),
  the 60-day order window, fulfillment orders with remaining quantities,
  ``inventorySetQuantities`` compare-and-set, an asynchronous ``orderCancel`` job;
* signed webhook deliveries whose bodies are REST order resources;
* bulk query operations (``bulkops``): one at a time per app, a JSONL result served by byte
  range, and a synthetic catalogue of any size for benchmarks (``synthetic``);
* a field it does not implement is a GraphQL error (``NOT_IMPLEMENTED``), never a quiet null;
* injected faults (``kade.sim.base.Faults``), including a timeout after the work was done.

Tests and the demo seed and inspect the state through ``app.state.sim`` (a ``SimState``)."""

from __future__ import annotations

from kade.plugins.shopify.simulator.app import create_app
from kade.plugins.shopify.simulator.models import (
    BUCKET_SIZE,
    CANCEL_JOB_SECONDS,
    DEFAULT_ADMIN_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SHOP,
    MAX_INPUT,
    MAX_PAGE,
    MAX_QUERY_COST,
    ORDER_WINDOW_DAYS,
    QUANTITY_NAMES,
    RATE_LIMIT_DOCS,
    RESTORE_RATE,
    SCHEMA_FILE,
    SCOPES,
    SET_REASONS,
    TOKEN_LIFETIME,
    Bucket,
    FOLine,
    Fulfillment,
    FulfillmentLine,
    FulfillmentOrder,
    Job,
    Level,
    LineItem,
    Location,
    Order,
    Variant,
    WebhookDelivery,
    gid,
    iso,
    load_schema,
    money,
    parse_gid,
    rest_time,
)
from kade.plugins.shopify.simulator.querycost import _Cost
from kade.plugins.shopify.simulator.rest import rest_order
from kade.plugins.shopify.simulator.state import SimState

__all__ = [
    "BUCKET_SIZE",
    "CANCEL_JOB_SECONDS",
    "DEFAULT_ADMIN_TOKEN",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_SHOP",
    "MAX_INPUT",
    "MAX_PAGE",
    "MAX_QUERY_COST",
    "ORDER_WINDOW_DAYS",
    "QUANTITY_NAMES",
    "RATE_LIMIT_DOCS",
    "RESTORE_RATE",
    "SCHEMA_FILE",
    "SCOPES",
    "SET_REASONS",
    "TOKEN_LIFETIME",
    "Bucket",
    "FOLine",
    "Fulfillment",
    "FulfillmentLine",
    "FulfillmentOrder",
    "Job",
    "Level",
    "LineItem",
    "Location",
    "Order",
    "SimState",
    "Variant",
    "WebhookDelivery",
    "_Cost",
    "create_app",
    "gid",
    "iso",
    "load_schema",
    "money",
    "parse_gid",
    "rest_order",
    "rest_time",
]
