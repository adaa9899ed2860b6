"""Facts of bol's Retailer API v10 that both the plugin and the simulator rely on."""

from __future__ import annotations

JSON_TYPE = "application/vnd.retailer.v10+json"
CSV_TYPE = "application/vnd.retailer.v10+csv"

#: GET /retailer/orders and GET /retailer/shipments return at most this many entries per page
PAGE_SIZE = 50
#: change-interval-minute accepts at most this many minutes
MAX_CHANGE_INTERVAL_MINUTES = 60
#: orders and shipments are listed up to about three months back
HISTORY_DAYS = 90
#: PUT /retailer/offers/{id}/stock accepts 0..999
MAX_STOCK = 999
#: POST /retailer/shipments takes at most this many order items
MAX_SHIPMENT_ITEMS = 100
#: code-flow consents (and so refresh tokens) last a year
REFRESH_TOKEN_DAYS = 365

CANCEL_REASONS = (
    "OUT_OF_STOCK",
    "REQUESTED_BY_CUSTOMER",
    "BAD_CONDITION",
    "HIGHER_SHIPCOST",
    "INCORRECT_PRICE",
    "NOT_AVAIL_IN_TIME",
    "NO_BOL_GUARANTEE",
    "ORDERED_TWICE",
    "RETAIN_ITEM",
    "TECH_ISSUE",
    "UNFINDABLE_ITEM",
    "OTHER",
)
