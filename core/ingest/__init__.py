"""Order import: the one ingest path for polling and webhooks.

Each page is applied in one transaction. Orders upsert on (connection, remote id), so a page
imported twice changes nothing; an order whose remote ``updated_at`` did not move is skipped
without touching its rows. Rules applied here: R1 (origin recorded once), R2 (marketplace
fulfilled lines dropped), R3 (store-side cancellations), R6 (product matching / auto-import),
and principle 7 (a malformed order is quarantined; the rest of its page imports).

Split by concern: ``loop`` (locking, paging, cursor), ``apply`` (one page in one transaction),
``resolver`` (order line → warehouse product), ``rules`` (the pure order rules), ``stats``,
``quarantine`` (keeping a refused record, for the catalogue link too).
"""

from __future__ import annotations

from kade.db import BULK_ANALYZE
from kade.ingest.apply import apply_page
from kade.ingest.loop import MAX_RATE_WAIT, PAGE_RETRIES, import_orders
from kade.ingest.resolver import ProductResolver
from kade.ingest.rules import digest, order_state, store_shipped, validate_order
from kade.ingest.stats import ImportStats

__all__ = [
    "BULK_ANALYZE",
    "MAX_RATE_WAIT",
    "PAGE_RETRIES",
    "ImportStats",
    "ProductResolver",
    "apply_page",
    "digest",
    "import_orders",
    "order_state",
    "store_shipped",
    "validate_order",
]
