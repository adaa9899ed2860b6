"""The order rules that need no database: fingerprint, refusals, shipped quantity, state."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from kade.models import (
    OrderState,
)
from kade.types import (
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
)


def digest(order: RemoteOrder) -> str:
    """A fingerprint of everything the core applies from an order.

    Timestamps alone can't tell a change apart (some stores give whole seconds, some none), so
    re-imports compare this instead: equal digests are skipped without touching a row.
    """
    parts = [order.status.value, str(order.cancellation_requested), order.updated_at.isoformat()]
    # A store-side shipped quantity joins only when there is one, so digests of orders without
    # one stay what earlier releases stored (no mass re-apply after an upgrade).
    parts += [f"{li.remote_line_id}:{li.quantity}:{li.quantity_cancelled}:{li.fulfilled_by_marketplace}"
              + (f":s{li.quantity_shipped}" if li.quantity_shipped else "")
              for li in order.lines]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def validate_order(order: RemoteOrder) -> str | None:
    """Reasons the core refuses an order the plugin could translate; None when it is fine."""
    if not order.lines:
        return "order has no lines"
    seen: set[str] = set()
    for line in order.lines:
        if line.remote_line_id in seen:
            return f"line id {line.remote_line_id!r} appears twice"
        seen.add(line.remote_line_id)
        if line.quantity_cancelled > line.quantity:
            return f"line {line.remote_line_id}: cancelled quantity {line.quantity_cancelled} > {line.quantity}"
        if not (line.sku or line.ean or line.remote_product_id):
            return f"line {line.remote_line_id} has neither SKU, barcode nor product id"
    return None


def store_shipped(order: RemoteOrder, line: RemoteOrderLine) -> int:
    """How much of ``line`` the store says has left already (never more than is not cancelled).

    An order the store reports shipped/completed counts as fully shipped even when the plugin
    has no per-line figure (WooCommerce ``completed``).
    """
    shippable = max(0, line.quantity - line.quantity_cancelled)
    if order.status == RemoteOrderStatus.SHIPPED:
        return shippable
    return min(line.quantity_shipped, shippable)


def order_state(lines: Iterable[tuple[int, int, int]], cancelled: bool) -> OrderState:
    """Kade's state of an order from its lines' (quantity, cancelled, shipped)."""
    rows = list(lines)
    if cancelled or all(c >= q for q, c, _ in rows):
        return OrderState.CANCELLED
    if all(c + s >= q for q, c, s in rows):
        return OrderState.SHIPPED
    if any(s for _, _, s in rows):
        return OrderState.PARTIALLY_SHIPPED
    return OrderState.OPEN
