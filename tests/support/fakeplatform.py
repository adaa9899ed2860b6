"""A tiny in-memory platform used to test the core without HTTP.

``FakeStore`` is the store's state; ``FakePlatform`` is a plugin object whose hookimpls
translate to and from it, and can be told to fail in the ways real stores fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from kade import hookimpl
from kade.errors import (
    AuthRejected,
    OutcomeUnknown,
    RateLimited,
    RejectedByStore,
    TransientError,
    WebhookRejected,
)
from kade.types import (
    CancelRequest,
    CancelResult,
    Capabilities,
    ConnectionContext,
    ConnectionTestResult,
    MigrationResult,
    OrderPage,
    OrderQuery,
    PlatformSpec,
    ProductPage,
    RejectedRecord,
    RemoteOrder,
    RemoteOrderLine,
    RemoteOrderStatus,
    RemoteProduct,
    RemoteShipmentState,
    RemoteStock,
    ShipmentRequest,
    ShipmentResult,
    StockPage,
    StockResult,
    StockUpdate,
    WebhookEvent,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class FakeStore:
    """The state of one fake store (shared by all connections pointing at it)."""

    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: list[dict[str, Any]] = field(default_factory=list)
    cancellations: list[str] = field(default_factory=list)
    stock_calls: list[list[tuple[str, int]]] = field(default_factory=list)
    page_size: int = 50
    #: queued failures per operation, consumed one per call: "auth", "rate", "transient", "unknown";
    #: "raw_timeout" / "raw_unknown" raise httpx's own ReadTimeout, as a plugin that maps nothing would
    failures: dict[str, list[str]] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=lambda: {"good"})
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, int] = field(default_factory=dict)
    #: every operation in the order it was called (the recovery's phases are checked against it)
    sequence: list[str] = field(default_factory=list)
    credentials_expire_at: datetime | None = None

    def add_order(self, remote_id: str, lines: Sequence[tuple[str, str | None, int]], *, minute: int = 0,
                  status: str = "open", fbm: Sequence[bool] = (), **extra: Any) -> None:
        """Lines are (sku, ean, quantity)."""
        self.orders[remote_id] = {
            "id": remote_id,
            "number": f"N{remote_id}",
            "status": status,
            "updated": T0 + timedelta(minutes=minute),
            "lines": [
                {"id": f"{remote_id}-{i}", "sku": sku, "ean": ean, "qty": qty,
                 "fbm": fbm[i] if i < len(fbm) else False, "cancelled": 0}
                for i, (sku, ean, qty) in enumerate(lines)
            ],
            **extra,
        }

    def add_product(self, remote_id: str, sku: str | None, ean: str | None, stock: int = 0,
                    name: str = "") -> None:
        self.products[remote_id] = {"id": remote_id, "sku": sku, "ean": ean, "stock": stock, "name": name}

    def fail_next(self, operation: str, *kinds: str) -> None:
        self.failures.setdefault(operation, []).extend(kinds)

    def _enter(self, operation: str, ctx: ConnectionContext) -> None:
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.sequence.append(operation)
            queue = self.failures.get(operation) or []
            kind = queue.pop(0) if queue else None
        if ctx.credentials.get("token") not in self.valid_tokens:
            raise AuthRejected("401 Unauthorized: token rejected", status_code=401)
        if kind == "auth":
            raise AuthRejected("401 Unauthorized", status_code=401)
        if kind == "rate":
            raise RateLimited(retry_after=0.05)
        if kind == "transient":
            raise TransientError("503 Service Unavailable", status_code=503)
        if kind == "raw_timeout":
            raise httpx.ReadTimeout("timed out", request=httpx.Request("GET", f"https://fake.test/{operation}"))


class FakePlatform:
    """Hook implementations for the ``fake`` platform, bound to one ``FakeStore``."""

    def __init__(self, store: FakeStore, name: str = "fake", capabilities: Capabilities | None = None) -> None:
        self.store = store
        self.platform_name = name
        self.capabilities = capabilities or Capabilities(stock_batch_size=50, order_poll_interval=60, stock_read=True,
                                                          cancel_order=True)

    @hookimpl
    def kade_register_platforms(self) -> list[PlatformSpec]:
        return [
            PlatformSpec(
                name=self.platform_name,
                title="Fake Store",
                auth_methods=("token", "new_token"),
                default_auth_method="token",
                capabilities=self.capabilities,
                credential_fields={"token": ("token",), "new_token": ("token",)},
            )
        ]

    @hookimpl
    def import_orders(self, ctx: ConnectionContext, query: OrderQuery) -> OrderPage:
        s = self.store
        s._enter("import_orders", ctx)
        rows = sorted(
            (o for o in s.orders.values() if query.since is None or o["updated"] >= query.since),
            key=lambda o: (o["updated"], o["id"]),
        )
        start = int(query.page_token or 0)
        chunk = rows[start : start + s.page_size]
        orders: list[RemoteOrder] = []
        rejected: list[RejectedRecord] = []
        for o in chunk:
            if o.get("malformed"):
                rejected.append(RejectedRecord(remote_id=o["id"], reason="order has no lines array", raw=o))
                continue
            orders.append(
                RemoteOrder(
                    remote_id=o["id"], number=o["number"],
                    status={"cancelled": RemoteOrderStatus.CANCELLED,
                            "shipped": RemoteOrderStatus.SHIPPED}.get(o["status"], RemoteOrderStatus.OPEN),
                    cancellation_requested=bool(o.get("cancel_requested")),
                    created_at=o["updated"], updated_at=o["updated"], currency=o.get("currency", "EUR"),
                    total=Decimal("10"),
                    lines=tuple(
                        RemoteOrderLine(remote_line_id=line["id"], sku=line["sku"], ean=line["ean"],
                                        quantity=line["qty"], quantity_cancelled=line["cancelled"],
                                        quantity_shipped=line.get("shipped", 0),
                                        fulfilled_by_marketplace=line["fbm"], unit_price=Decimal("5"))
                        for line in o["lines"]
                    ),
                    raw={"id": o["id"]},
                )
            )
        nxt = start + s.page_size
        return OrderPage(orders=tuple(orders), rejected=tuple(rejected),
                         next_page_token=str(nxt) if nxt < len(rows) else None)

    @hookimpl
    def read_products(self, ctx: ConnectionContext, page_token: str | None) -> ProductPage:
        self.store._enter("read_products", ctx)
        items = sorted(self.store.products.values(), key=lambda p: p["id"])
        start = int(page_token or 0)
        chunk = items[start : start + self.store.page_size]
        nxt = start + self.store.page_size
        return ProductPage(
            products=tuple(RemoteProduct(remote_id=p["id"], sku=p["sku"], ean=p["ean"], name=p["name"],
                                         stock=p["stock"]) for p in chunk),
            next_page_token=str(nxt) if nxt < len(items) else None,
        )

    @hookimpl
    def read_stock(self, ctx: ConnectionContext, page_token: str | None) -> StockPage:
        self.store._enter("read_stock", ctx)
        items = sorted(self.store.products.values(), key=lambda p: p["id"])
        start = int(page_token or 0)
        chunk = items[start : start + self.store.page_size]
        nxt = start + self.store.page_size
        return StockPage(
            items=tuple(RemoteStock(remote_product_id=p["id"], sku=p["sku"], ean=p["ean"], quantity=p["stock"])
                        for p in chunk),
            next_page_token=str(nxt) if nxt < len(items) else None,
        )

    @hookimpl
    def push_stock(self, ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> list[StockResult]:
        self.store._enter("push_stock", ctx)
        results = []
        with self.store.lock:
            self.store.stock_calls.append([(u.remote_product_id, u.quantity) for u in updates])
            for u in updates:
                product = self.store.products.get(u.remote_product_id)
                if product is None or product.get("reject_stock"):
                    results.append(StockResult(remote_product_id=u.remote_product_id, ok=False,
                                               error="offer not found", error_kind="not_found"))
                    continue
                product["stock"] = u.quantity
                results.append(StockResult(remote_product_id=u.remote_product_id, ok=True))
        return results

    @hookimpl
    def report_shipment(self, ctx: ConnectionContext, shipment: ShipmentRequest) -> ShipmentResult:
        s = self.store
        with s.lock:
            queue = s.failures.get("report_shipment") or []
            mode = queue[0] if queue else None
            if mode in ("unknown", "raw_unknown"):
                queue.pop(0)
        if mode in ("unknown", "raw_unknown"):
            # The store applies the shipment but the answer is lost.
            with s.lock:
                s.shipments.append({"key": shipment.idempotency_key, "order": shipment.order_remote_id,
                                    "tracking": shipment.tracking_code,
                                    "lines": [(li.remote_line_id, li.quantity) for li in shipment.lines]})
            if mode == "raw_unknown":
                raise httpx.ReadTimeout("timed out", request=httpx.Request("POST", "https://fake.test/shipments"))
            raise OutcomeUnknown("timeout after sending")
        s._enter("report_shipment", ctx)
        order = s.orders.get(shipment.order_remote_id)
        if order is None or order["status"] == "cancelled":
            raise RejectedByStore("the order was cancelled by the customer", code="order_cancelled",
                                  status_code=400)
        with s.lock:
            s.shipments.append({"key": shipment.idempotency_key, "order": shipment.order_remote_id,
                                "tracking": shipment.tracking_code,
                                "lines": [(li.remote_line_id, li.quantity) for li in shipment.lines]})
        return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=shipment.idempotency_key)

    @hookimpl
    def check_shipment(self, ctx: ConnectionContext, shipment: ShipmentRequest,
                       remote_reference: str | None) -> ShipmentResult | None:
        self.store._enter("check_shipment", ctx)
        for row in self.store.shipments:
            if row["key"] == shipment.idempotency_key:
                return ShipmentResult(state=RemoteShipmentState.CONFIRMED, remote_reference=row["key"])
        return None

    @hookimpl
    def cancel_order(self, ctx: ConnectionContext, request: CancelRequest) -> CancelResult:
        self.store._enter("cancel_order", ctx)
        self.store.cancellations.append(request.order_remote_id)
        if request.order_remote_id in self.store.orders and not request.lines:
            self.store.orders[request.order_remote_id]["status"] = "cancelled"
        return CancelResult(ok=True)

    @hookimpl
    def check_connection(self, ctx: ConnectionContext) -> ConnectionTestResult:
        self.store._enter("check_connection", ctx)
        return ConnectionTestResult(ok=True, message="fake store reachable",
                                    credentials_expire_at=self.store.credentials_expire_at)

    @hookimpl
    def verify_webhook(self, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get("x-fake-signature")
        if not given:
            raise WebhookRejected("missing X-Fake-Signature")
        expected = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, expected)

    @hookimpl
    def parse_webhook(self, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes) -> WebhookEvent | None:
        payload = json.loads(body)
        if payload.get("topic") == "ping":
            return WebhookEvent(delivery_id=headers.get("x-fake-delivery", "ping"), topic="ping")
        if payload.get("topic") not in ("order_created", "order_updated", "order_cancelled"):
            return None
        return WebhookEvent(delivery_id=headers["x-fake-delivery"], topic=payload["topic"],
                            remote_id=str(payload.get("id")), payload=payload)

    @hookimpl
    def migrate_connection(self, ctx: ConnectionContext, target_auth_method: str,
                           new_credentials: Mapping[str, str]) -> MigrationResult:
        if new_credentials.get("token") not in self.store.valid_tokens:
            raise AuthRejected("new credentials rejected by the store")
        return MigrationResult(auth_method=target_auth_method, credentials=dict(new_credentials))
