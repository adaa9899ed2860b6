"""The shop's orders: seeding, cancellations (an asynchronous job), fulfillment status."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kade.plugins.shopify.queries import API_VERSION
from kade.plugins.shopify.simulator.apps import AppState
from kade.plugins.shopify.simulator.models import (
    _CITIES,
    _NAMES,
    _STREETS,
    FOLine,
    FulfillmentOrder,
    LineItem,
    Location,
    Order,
    Variant,
    WebhookDelivery,
    line_of,
)
from kade.plugins.shopify.simulator.rest import rest_order


class OrderState(AppState):
    """Orders and what happens to them shop-side."""

    # ------------------------------------------------------------------ orders

    def add_order(
        self,
        lines: Sequence[tuple[Variant | str, int]],
        *,
        currency: str | None = None,
        location: Location | None = None,
        created_at: int | None = None,
        email: str | None = "customer@example.com",
        shipping: dict[str, Any] | None = None,
        billing: dict[str, Any] | None = None,
        financial_status: str = "PAID",
        emit: bool = True,
    ) -> Order:
        """Place an order; each line is a variant (or a custom item title) and a quantity."""
        with self.lock:
            loc = location or self.primary_location
            now = self.now() if created_at is None else created_at
            number = self.next_id("OrderNumber")
            address = shipping or self._address()
            order = Order(
                id=self.next_id("Order"),
                number=number,
                name=f"#{number}",
                created_at=now,
                updated_at=now,
                currency=currency or self.currency,
                lines=[],
                email=email,
                shipping=address,
                billing=billing or dict(address),
                financial_status=financial_status,
            )
            fo = FulfillmentOrder(self.next_id("FulfillmentOrder"), order.id, loc.id, created_at=now, updated_at=now)
            for item, quantity in lines:
                variant = item if isinstance(item, Variant) else None
                line = LineItem(
                    id=self.next_id("LineItem"),
                    variant_id=variant.id if variant else None,
                    sku=variant.sku if variant else None,
                    title=variant.product_title if variant else str(item),
                    quantity=quantity,
                    price=variant.price if variant else Decimal("0"),
                    current_quantity=quantity,
                )
                order.lines.append(line)
                fo.lines.append(FOLine(self.next_id("FulfillmentOrderLineItem"), line.id, quantity, quantity))
                level = self.level(variant, loc) if variant and variant.tracked else None
                if level is not None:
                    level.available -= quantity
                    level.committed += quantity
            if fo.lines:
                order.fulfillment_orders.append(fo)
            self.orders[order.id] = order
            if emit:
                self.emit("orders/create", order)
            return order

    def _address(self) -> dict[str, Any]:
        first, last = self.rng.choice(_NAMES)
        city, postcode = self.rng.choice(_CITIES)
        return {
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "company": None,
            "address1": f"{self.rng.choice(_STREETS)} {self.rng.randrange(1, 200)}",
            "address2": "",
            "zip": postcode,
            "city": city,
            "province": None,
            "country": "Netherlands",
            "country_code": "NL",
            "phone": f"+316{self.rng.randrange(10**8):08d}",
        }

    def generate_orders(self, count: int, *, max_lines: int = 3, max_quantity: int = 3) -> list[Order]:
        """Reproducible orders over the catalog (seeded with 20 products when empty)."""
        if not self.variants:
            self.seed_catalog(20)
        catalog = sorted(self.variants.values(), key=lambda v: v.id)
        made = []
        for _ in range(count):
            picks = self.rng.sample(catalog, k=min(len(catalog), self.rng.randint(1, max_lines)))
            made.append(self.add_order([(v, self.rng.randint(1, max_quantity)) for v in picks]))
        return made

    def touch(self, order: Order, *topics: str) -> None:
        order.updated_at = self.now()
        for topic in topics:
            self.emit(topic, order)

    def cancel_order(
        self, order: Order, *, reason: str = "CUSTOMER", restock: bool = True, refund: bool = True
    ) -> None:
        """Cancel on the store side (what a merchant or customer does in Shopify)."""
        with self.lock:
            self._apply_cancel(order, reason=reason, restock=restock, refund=refund)

    def _apply_cancel(self, order: Order, *, reason: str, restock: bool, refund: bool) -> None:
        if order.cancelled_at is not None:
            return
        for fo in order.fulfillment_orders:
            loc = self.locations[fo.location_id]
            for fo_line in fo.lines:
                line = line_of(order, fo_line.line_item_id)
                variant = self.variants.get(line.variant_id) if line.variant_id else None
                level = self.level(variant, loc) if variant else None
                if level is not None and fo_line.remaining:
                    level.committed -= fo_line.remaining
                    if restock:
                        level.available += fo_line.remaining
                fo_line.remaining = 0
            if fo.status in ("OPEN", "IN_PROGRESS", "ON_HOLD", "SCHEDULED"):
                fo.status = "CANCELLED" if fo.status != "IN_PROGRESS" else "CLOSED"
                fo.updated_at = self.now()
        for line in order.lines:
            line.current_quantity = line.fulfilled
        order.cancelled_at = self.now()
        order.cancel_reason = reason
        if refund:
            order.financial_status = "REFUNDED" if order.financial_status == "PAID" else "VOIDED"
        self.touch(order, "orders/cancelled", "orders/updated")

    def remove_quantity(self, order: Order, line: LineItem, quantity: int, *, restock: bool = True) -> None:
        """An order edit on the store side removing ``quantity`` unfulfilled units of ``line``."""
        with self.lock:
            if quantity > line.unfulfilled:
                raise ValueError(f"only {line.unfulfilled} unfulfilled units of line {line.id}")
            line.current_quantity -= quantity
            left = quantity
            for fo in order.fulfillment_orders:
                for fo_line in fo.lines:
                    if fo_line.line_item_id == line.id and left:
                        take = min(left, fo_line.remaining)
                        fo_line.remaining -= take
                        fo_line.total -= take
                        left -= take
                        variant = self.variants.get(line.variant_id) if line.variant_id else None
                        level = self.level(variant, self.locations[fo.location_id]) if variant else None
                        if level is not None:
                            level.committed -= take
                            if restock:
                                level.available += take
                if all(fl.remaining == 0 for fl in fo.lines) and fo.status in ("OPEN", "IN_PROGRESS"):
                    fo.status = "CLOSED"
            self.touch(order, "orders/edited", "orders/updated")

    def fulfillment_status(self, order: Order) -> str:
        current = sum(line.current_quantity for line in order.lines)
        fulfilled = sum(line.fulfilled for line in order.lines)
        if current and fulfilled >= current:
            return "FULFILLED"
        if fulfilled:
            return "PARTIALLY_FULFILLED"
        return "UNFULFILLED"

    def run_due_jobs(self) -> None:
        with self.lock:
            now = self.clock.now()
            for job in self.jobs.values():
                if not job.done and job.ready_at <= now:
                    job.action()
                    job.done = True

    # ------------------------------------------------------------------ webhooks

    def delivery(self, topic: str, order: Order, *, webhook_id: str | None = None) -> WebhookDelivery:
        """A signed delivery of ``order`` for ``topic`` (REST order body, Shopify's headers)."""
        body = json.dumps(rest_order(self, order), separators=(",", ":")).encode()
        signature = base64.b64encode(hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).digest()).decode()
        webhook_id = webhook_id or self.uuid()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": self.uuid(),
            "X-Shopify-Triggered-At": datetime.fromtimestamp(self.clock.now(), UTC).isoformat().replace("+00:00", "Z"),
        }
        return WebhookDelivery(topic, webhook_id, headers, body)

    def emit(self, topic: str, order: Order) -> WebhookDelivery:
        with self.lock:
            delivery = self.delivery(topic, order)
            self.webhooks.append(delivery)
            return delivery

    def drain_webhooks(self) -> list[WebhookDelivery]:
        with self.lock:
            out, self.webhooks = self.webhooks, []
            return out

