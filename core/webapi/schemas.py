"""Request and response bodies of the warehouse API (they are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: printable text without NUL: PostgreSQL cannot store NUL, and no store sends it
Text = Annotated[str, StringConstraints(max_length=300, pattern=r"^[^\x00]*$")]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00]*\S[^\x00]*$")]
Ean = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9]+$")]
Quantity = Annotated[int, Field(ge=0, le=2_000_000_000)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=4)]
IdemKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
OrderStateName = Literal["open", "partially_shipped", "shipped", "cancelled"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------- products


class ProductIn(Strict):
    sku: Sku
    ean: Ean | None = None
    name: Text = ""
    price: Money | None = None


class ProductUpsert(Strict):
    items: list[ProductIn] = Field(min_length=1, max_length=5000)


class ProductUpsertResult(BaseModel):
    created: int
    updated: int


class ProductOut(BaseModel):
    sku: str
    ean: str | None
    name: str
    price: str | None = Field(description="decimal as a string")
    stock: int
    updated_at: datetime | None


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


# ------------------------------------------------------------------------------------------ stock


class StockItem(Strict):
    sku: Sku
    quantity: Quantity = Field(description="the absolute quantity available")


class StockChange(Strict):
    items: list[StockItem] = Field(min_length=1, max_length=10000,
                                   description="a SKU named twice takes the last quantity")


class StockResult(BaseModel):
    accepted: int = Field(description="products whose stock was set")
    pushes_queued: int = Field(description="store pushes newly queued (changes within the window coalesce)")
    replayed: bool = Field(description="true when this Idempotency-Key was seen before: nothing changed now")


# ----------------------------------------------------------------------------------------- orders


class OrderLineOut(BaseModel):
    id: int
    sku: str | None
    ean: str | None
    name: str
    quantity: int
    quantity_shipped: int
    quantity_cancelled: int
    quantity_open: int
    unit_price: str | None


class OrderOut(BaseModel):
    id: int
    connection_id: int
    remote_id: str
    number: str
    state: OrderStateName
    cancellation_requested: bool
    currency: str
    total: str | None
    picked: bool
    created_at: datetime | None
    updated_at: datetime | None
    imported_at: datetime | None
    lines: list[OrderLineOut]


class OrderFeed(BaseModel):
    orders: list[OrderOut]
    next_cursor: str | None = Field(description="keep it: the next call returns what is new or changed since")
    has_more: bool


class Origin(BaseModel):
    connection_id: int
    name: str
    platform: str


class ShipmentLineOut(BaseModel):
    order_line_id: int
    sku: str | None
    quantity: int


class ShipmentOut(BaseModel):
    id: int
    order_id: int
    carrier: str
    tracking_code: str | None
    tracking_url: str | None
    status: Literal["pending", "reported", "refused", "failed", "skipped"]
    created_at: datetime | None
    reported_at: datetime | None
    lines: list[ShipmentLineOut]


class OrderDetail(OrderOut):
    origin: Origin
    shipments: list[ShipmentOut]


class ShipmentLineIn(Strict):
    sku: Sku = Field(description="the line's SKU (or barcode)")
    quantity: Annotated[int, Field(ge=1, le=2_000_000_000)] | None = Field(
        default=None, description="omitted: everything still open of that line")


class ShipmentIn(Strict):
    carrier: Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[^\x00]*\S[^\x00]*$")]
    tracking_code: Annotated[str, StringConstraints(max_length=120, pattern=r"^[^\x00]*$")] | None = None
    tracking_url: Annotated[str, StringConstraints(max_length=500, pattern=r"^https?://[^\x00\s]+$")] | None = None
    lines: list[ShipmentLineIn] | None = Field(default=None, max_length=1000,
                                               description="omitted: every open line in full")


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.-]+$")] = \
        "out_of_stock"


class CancelResult(BaseModel):
    order_id: int
    state: OrderStateName


# ------------------------------------------------------------------------- notifications, status


class NotificationOut(BaseModel):
    id: int
    tenant_id: int | None
    connection_id: int | None
    kind: str
    message: str
    count: int
    created_at: datetime | None
    last_seen_at: datetime | None
    cleared_at: datetime | None
    acknowledged_at: datetime | None


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last")


class ConnectionOut(BaseModel):
    id: int
    tenant_id: int
    name: str
    platform: str
    status: Literal["new", "active", "paused", "needs_reauth", "disabled"]
    auth_method: str
    send_stock: bool
    send_shipments: bool
    activated_at: datetime | None
    status_changed_at: datetime | None
    status_reason: str | None


class ConnectionList(BaseModel):
    items: list[ConnectionOut]


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str


class TenantList(BaseModel):
    items: list[TenantOut]


class HealthOut(BaseModel):
    ok: bool
    alerts: list[str]
    connections: dict[str, int]
    pending: int
    failed: int
    oldest_pending_seconds: float | None


# --------------------------------------------------------------------------------------- webhooks

EventType = Literal["orders.created", "orders.changed", "orders.cancelled", "shipments.confirmed",
                    "shipments.refused", "notifications.created", "connections.status_changed"]
WebhookUrl = Annotated[str, StringConstraints(min_length=8, max_length=1000, pattern=r"^https?://[^\x00\s]+$")]


class WebhookIn(Strict):
    url: WebhookUrl = Field(description="absolute http(s) URL that receives the signed events")
    events: list[EventType] = Field(min_length=1, max_length=20)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret; shown only in this answer")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookRemoved(BaseModel):
    id: int
    dropped: int = Field(description="undelivered events cancelled with it")


class DeliveryOut(BaseModel):
    id: int
    subscription_id: int
    event_id: str
    type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class ReplayIn(Strict):
    delivery_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(
        default=None, min_length=1, max_length=1000, description="these deliveries of the subscription")
    since: datetime | None = Field(default=None, description="or every delivery of it created since then")


class ReplayResult(BaseModel):
    queued: int
