"""A stateful, strict simulator of the Bol.com Retailer API v10 and bol's login host.

It exists so the plugin, the demo and the benchmarks run against something that behaves like
the real service where it hurts: short-lived JWTs and rotating refresh tokens, the vendor media
type, 50-order pages with ``{}`` for an empty page, asynchronous processing behind 202 +
process status, business failures that only show up in the process status, per-endpoint rate
limits with ``Retry-After``, problem bodies, and injected faults (5xx, timeouts, answers dropped
after the work was done).

One retailer per state. Both hosts (``login.bol.com`` and ``api.bol.com``) are served by the
same app; clients reach it in-process through ``kade.sim.transport.SyncASGITransport`` or on a
port through ``kade.sim.server.BackgroundServer``."""

from __future__ import annotations

from kade.plugins.bol.simulator.app import DEMO_INTERMEDIARY_CLIENTS, DEMO_RETAILER_CLIENTS, BolSimulator, create_app
from kade.plugins.bol.simulator.gateway import Call, Handler, problem
from kade.plugins.bol.simulator.login import authorize_endpoint, token_endpoint
from kade.plugins.bol.simulator.models import (
    AUTH_CODE_TTL,
    CSV_COLUMNS,
    DAY,
    PROBLEM_TYPE,
    PROCESS_RETENTION,
    REPORT_RETENTION,
    AccessToken,
    AuthCode,
    RefreshToken,
    SimOffer,
    SimOrder,
    SimOrderItem,
    SimProcess,
    SimShipment,
    TokenRequest,
    iso,
)
from kade.plugins.bol.simulator.offers import create_offer_export, get_offer_export, update_offer_stock
from kade.plugins.bol.simulator.orders import cancel_order_item, get_order, get_orders
from kade.plugins.bol.simulator.process_status import bulk_process_statuses, find_process_statuses, get_process_status
from kade.plugins.bol.simulator.shipments import create_shipment, get_shipments
from kade.plugins.bol.simulator.state import BolSimState

__all__ = [
    "AUTH_CODE_TTL",
    "CSV_COLUMNS",
    "DAY",
    "DEMO_INTERMEDIARY_CLIENTS",
    "DEMO_RETAILER_CLIENTS",
    "PROBLEM_TYPE",
    "PROCESS_RETENTION",
    "REPORT_RETENTION",
    "AccessToken",
    "AuthCode",
    "BolSimState",
    "BolSimulator",
    "Call",
    "Handler",
    "RefreshToken",
    "SimOffer",
    "SimOrder",
    "SimOrderItem",
    "SimProcess",
    "SimShipment",
    "TokenRequest",
    "authorize_endpoint",
    "bulk_process_statuses",
    "cancel_order_item",
    "create_app",
    "create_offer_export",
    "create_shipment",
    "find_process_statuses",
    "get_offer_export",
    "get_order",
    "get_orders",
    "get_process_status",
    "get_shipments",
    "iso",
    "problem",
    "token_endpoint",
    "update_offer_stock",
]
