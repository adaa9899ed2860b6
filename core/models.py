"""Kade's data model (SQLModel tables). The database is the truth; the broker only delivers.

Unique constraints carry idempotency: an order per (connection, remote id), a line per
(order, remote line id), a link per (connection, remote product id), an action per idempotency
key. Imports upsert against them instead of checking first.

The warehouse's and the operators' tables live in ``kade.warehouse_models`` and the column
types in ``kade.columns``; both are re-exported here, so importing this module registers every
table and ``from kade.models import ...`` reaches each of them.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kade.columns import MONEY as MONEY
from kade.columns import UTCDateTime as UTCDateTime
from kade.columns import _json, _now_ts, _ts
from kade.columns import utcnow as utcnow
from kade.warehouse_models import AlertChannel as AlertChannel
from kade.warehouse_models import ApiKey as ApiKey
from kade.warehouse_models import IdempotentRequest as IdempotentRequest
from kade.warehouse_models import Operator as Operator
from kade.warehouse_models import OperatorSession as OperatorSession
from kade.warehouse_models import OperatorTenant as OperatorTenant
from kade.warehouse_models import OutboundEvent as OutboundEvent
from kade.warehouse_models import WebhookAttempt as WebhookAttempt
from kade.warehouse_models import WebhookSubscription as WebhookSubscription


def new_webhook_token() -> str:
    """An unguessable token naming a connection in its webhook URL (192 random bits)."""
    import secrets

    return secrets.token_urlsafe(24)


def jsonable(value: Any) -> Any:
    """A JSON-safe copy of a payload from a store (dates, decimals... become strings)."""
    return json.loads(json.dumps(value, default=str))


# ---------------------------------------------------------------------------------------------
# Tenants, plugins, connections


class Tenant(SQLModel, table=True):
    __tablename__ = "tenants"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    created_at: datetime = _now_ts()


class PluginEnablement(SQLModel, table=True):
    """Which platforms a tenant may connect to."""

    __tablename__ = "plugin_enablements"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "platform", name="uq_enablement_tenant_platform"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    platform: str = Field(max_length=32)
    enabled_at: datetime = _now_ts()


class ConnectionStatus(StrEnum):
    #: created; imports products and orders only, not yet activated (rule R5)
    NEW = "new"
    ACTIVE = "active"
    PAUSED = "paused"
    #: the store rejected our credentials; no jobs run until re-authorised
    NEEDS_REAUTH = "needs_reauth"
    DISABLED = "disabled"


class Connection(SQLModel, table=True):
    """One store of one tenant on one platform. Status changes only via ``kade.status``."""

    __tablename__ = "connections"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_connection_tenant_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    platform: str = Field(max_length=32, index=True)
    name: str = Field(max_length=100)
    base_url: str = Field(max_length=500)
    auth_method: str = Field(max_length=40)
    credentials_encrypted: str = Field(sa_type=sa.Text, repr=False)
    settings: dict[str, Any] = _json()
    status: ConnectionStatus = Field(default=ConnectionStatus.NEW, sa_type=sa.String(20), index=True)
    send_stock: bool = False
    send_shipments: bool = False
    #: the connection this one replaces when a shop switches platform (rule R9)
    replaces_id: int | None = Field(default=None, foreign_key="connections.id")
    #: orders changed since this moment still need importing
    order_cursor: datetime | None = _ts(nullable=True)
    credentials_expire_at: datetime | None = _ts(nullable=True)
    activated_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()
    #: names the connection in its webhook URL; unguessable, rotatable (``kade secrets webhook-token``)
    webhook_token: str | None = Field(default_factory=new_webhook_token, max_length=64, unique=True, index=True,
                                      repr=False)


class ConnectionStatusChange(SQLModel, table=True):
    """The audit trail of every connection status change, with its reason and actor."""

    __tablename__ = "connection_status_changes"

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str = Field(max_length=20)
    reason: str = Field(sa_type=sa.Text)
    actor: str = Field(max_length=100)
    at: datetime = _now_ts(index=True)


# ---------------------------------------------------------------------------------------------
# Products


class Product(SQLModel, table=True):
    """A warehouse product of a tenant."""

    __tablename__ = "products"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "sku", name="uq_product_tenant_sku"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    sku: str = Field(max_length=100)
    ean: str | None = Field(default=None, max_length=32, index=True)
    name: str = Field(default="", max_length=300)
    price: Decimal | None = Field(default=None, sa_type=MONEY)
    stock: int = 0
    updated_at: datetime = _now_ts(index=True)


class ProductLink(SQLModel, table=True):
    """A warehouse product as it exists in one store; remembers what stock we last pushed."""

    __tablename__ = "product_links"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "remote_id", name="uq_link_connection_remote"),
        sa.Index("ix_link_product_connection", "product_id", "connection_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    product_id: int | None = Field(default=None, foreign_key="products.id")
    remote_id: str = Field(max_length=100)
    remote_sku: str | None = Field(default=None, max_length=100)
    remote_ean: str | None = Field(default=None, max_length=32)
    manages_stock: bool = True
    last_pushed_stock: int | None = None
    last_pushed_at: datetime | None = _ts(nullable=True)


# ---------------------------------------------------------------------------------------------
# Orders


class OrderState(StrEnum):
    OPEN = "open"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Order(SQLModel, table=True):
    """An order imported from a store. ``connection_id`` is its origin, set once (rule R1)."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "remote_id", name="uq_order_connection_remote"),
        #: the warehouse's order feed reads by (tenant, change_seq); see docs/decisions/order-feed-change-sequence.md
        sa.Index("ix_order_tenant_change_seq", "tenant_id", "change_seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    remote_id: str = Field(max_length=100)
    number: str = Field(max_length=100, index=True)
    status: OrderState = Field(default=OrderState.OPEN, sa_type=sa.String(20), index=True)
    cancellation_requested: bool = False
    currency: str = Field(default="EUR", max_length=3)
    total: Decimal = Field(default=Decimal("0"), sa_type=MONEY)
    billing_address: dict[str, Any] = _json()
    shipping_address: dict[str, Any] = _json()
    raw: dict[str, Any] = _json()
    #: picking started in the warehouse; a store-side cancel then notifies instead (rule R3)
    picked: bool = False
    remote_created_at: datetime | None = _ts(nullable=True)
    remote_updated_at: datetime | None = _ts(nullable=True)
    #: fingerprint of what Kade reads from the remote order; equal means nothing to apply
    remote_digest: str = Field(default="", max_length=64)
    imported_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()
    #: commit-ordered change number, set by the database (migration 0007), never by Kade's code
    change_seq: int = Field(default=0, sa_type=sa.BigInteger, index=True,
                            sa_column_kwargs={"server_default": "0"})


class OrderLine(SQLModel, table=True):
    __tablename__ = "order_lines"
    __table_args__ = (sa.UniqueConstraint("order_id", "remote_line_id", name="uq_line_order_remote"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    remote_line_id: str = Field(max_length=100)
    product_id: int | None = Field(default=None, foreign_key="products.id", index=True)
    sku: str | None = Field(default=None, max_length=100)
    ean: str | None = Field(default=None, max_length=32)
    name: str = Field(default="", max_length=300)
    quantity: int
    quantity_shipped: int = 0
    quantity_cancelled: int = 0
    unit_price: Decimal = Field(default=Decimal("0"), sa_type=MONEY)
    fulfilled_by_marketplace: bool = False


class ShipmentStatus(StrEnum):
    PENDING = "pending"
    REPORTED = "reported"
    #: the store refused it (e.g. the order was cancelled there, rule R4)
    REFUSED = "refused"
    FAILED = "failed"
    #: nothing to report (connection does not send shipments)
    SKIPPED = "skipped"


class Shipment(SQLModel, table=True):
    __tablename__ = "shipments"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="orders.id", index=True)
    carrier: str = Field(max_length=60)
    tracking_code: str | None = Field(default=None, max_length=120)
    tracking_url: str | None = Field(default=None, max_length=500)
    status: ShipmentStatus = Field(default=ShipmentStatus.PENDING, sa_type=sa.String(20), index=True)
    remote_reference: str | None = Field(default=None, max_length=200)
    created_at: datetime = _now_ts()
    reported_at: datetime | None = _ts(nullable=True)


class ShipmentLine(SQLModel, table=True):
    __tablename__ = "shipment_lines"
    __table_args__ = (sa.UniqueConstraint("shipment_id", "order_line_id", name="uq_shipment_line"),)

    id: int | None = Field(default=None, primary_key=True)
    shipment_id: int = Field(foreign_key="shipments.id", index=True)
    order_line_id: int = Field(foreign_key="order_lines.id", index=True)
    quantity: int


# ---------------------------------------------------------------------------------------------
# Outbox, notifications, audit


class ActionKind(StrEnum):
    STOCK = "stock"
    SHIPMENT = "shipment"
    CANCEL = "cancel"
    MIGRATE = "migrate"
    IMPORT_ORDERS = "import_orders"
    LINK_PRODUCTS = "link_products"
    STOCK_CHECK = "stock_check"
    #: a signed event to a tenant's webhook subscription (no connection)
    WEBHOOK = "webhook"
    #: a notification to an operator's alert channel (no connection)
    ALERT = "alert"


class ActionStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    #: superseded (a newer stock value) or no longer applicable
    CANCELLED = "cancelled"


class Action(SQLModel, table=True):
    """An outbound action: written in the transaction that caused it, delivered by workers."""

    __tablename__ = "actions"
    __table_args__ = (
        sa.UniqueConstraint("idempotency_key", name="uq_action_idempotency_key"),
        sa.Index("ix_action_status_next", "status", "next_attempt_at"),
        # a connection's due work of one kind, oldest first: the claims' look-up (migration 0009)
        sa.Index("ix_action_connection_kind_status", "connection_id", "kind", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    #: the store the action goes to; None for deliveries to the warehouse or a person (webhook, alert)
    connection_id: int | None = Field(default=None, foreign_key="connections.id")
    kind: ActionKind = Field(sa_type=sa.String(20))
    idempotency_key: str = Field(max_length=200)
    status: ActionStatus = Field(default=ActionStatus.PENDING, sa_type=sa.String(20))
    payload: dict[str, Any] = _json()
    attempts: int = 0
    next_attempt_at: datetime = _now_ts()
    #: set when a message was handed to the broker; the sweeper re-enqueues stale ones
    enqueued_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    error_kind: str | None = Field(default=None, max_length=30)
    remote_reference: str | None = Field(default=None, max_length=200)
    created_at: datetime = _now_ts()
    updated_at: datetime = _now_ts()
    done_at: datetime | None = _ts(nullable=True)
    #: actions sharing a key run one at a time, oldest first (webhook events of one order)
    ordering_key: str | None = Field(default=None, max_length=200, index=True)
    #: the claim of the worker running it (``running`` only); finishing checks it is still its own
    claimed_by: str | None = Field(default=None, max_length=64)


class Notification(SQLModel, table=True):
    """Something an operator must see. Deduplicated by ``dedupe_key`` while not cleared."""

    __tablename__ = "notifications"
    __table_args__ = (sa.UniqueConstraint("dedupe_key", name="uq_notification_dedupe"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    connection_id: int | None = Field(default=None, foreign_key="connections.id", index=True)
    kind: str = Field(max_length=40, index=True)
    message: str = Field(sa_type=sa.Text)
    dedupe_key: str = Field(max_length=200)
    count: int = 1
    created_at: datetime = _now_ts()
    last_seen_at: datetime = _now_ts()
    cleared_at: datetime | None = _ts(nullable=True)
    #: a person said they saw it (API, console); the condition itself may still hold
    acknowledged_at: datetime | None = _ts(nullable=True)


class Event(SQLModel, table=True):
    """The integration event log: every import, push, report and failure with its outcome."""

    __tablename__ = "events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _now_ts(index=True)
    tenant_id: int | None = Field(default=None, index=True)
    connection_id: int | None = Field(default=None, index=True)
    action_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=40, index=True)
    outcome: str = Field(max_length=20)
    message: str = Field(default="", sa_type=sa.Text)
    data: dict[str, Any] = _json()


class Quarantine(SQLModel, table=True):
    """A remote record Kade could not accept, kept with its reason (principle 7)."""

    __tablename__ = "quarantine"
    __table_args__ = (sa.UniqueConstraint("connection_id", "kind", "remote_id", name="uq_quarantine_record"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    kind: str = Field(max_length=20)
    remote_id: str = Field(max_length=100)
    reason: str = Field(sa_type=sa.Text)
    raw: dict[str, Any] = _json()
    created_at: datetime = _now_ts()
    resolved_at: datetime | None = _ts(nullable=True)


class WebhookDelivery(SQLModel, table=True):
    """Seen webhook deliveries; a replayed delivery id creates nothing."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("connection_id", "delivery_id", name="uq_webhook_delivery"),
        sa.Index("ix_webhook_delivery_digest", "connection_id", "body_digest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True)
    delivery_id: str = Field(max_length=200)
    received_at: datetime = _now_ts()
    #: SHA-256 of the body: the same body again within the replay window is a duplicate
    body_digest: str | None = Field(default=None, max_length=64)


class Meta(SQLModel, table=True):
    """Facts about the database itself, e.g. the secret key check written by ``kade db upgrade``."""

    __tablename__ = "kade_meta"

    name: str = Field(primary_key=True, max_length=60)
    value: str = Field(sa_type=sa.Text)
    updated_at: datetime = _now_ts()


class Lease(SQLModel, table=True):
    """A named lease in the database (the scheduler's leader lock when Redis is absent)."""

    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=60)
    holder: str = Field(max_length=100)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ConnectionRuntime(SQLModel, table=True):
    """Per-connection run state shared by schedulers and workers, kept across restarts."""

    __tablename__ = "connection_runtime"

    connection_id: int = Field(foreign_key="connections.id", primary_key=True)
    last_poll_at: datetime | None = _ts(nullable=True)
    last_products_at: datetime | None = _ts(nullable=True)
    #: the worker importing the connection's orders, until ``import_lease_until``
    import_holder: str | None = Field(default=None, max_length=64)
    import_lease_until: datetime | None = _ts(nullable=True)
    #: an import was asked for while one ran: the running one goes once more
    import_again: bool = False
    #: consecutive failed imports, since when, and the last reason
    import_failures: int = 0
    import_failing_since: datetime | None = _ts(nullable=True)
    import_error: str | None = Field(default=None, sa_type=sa.Text)
    #: when the last import ended without error (an empty poll writes no event, only this)
    last_import_at: datetime | None = _ts(nullable=True)
