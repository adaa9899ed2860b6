"""The warehouse's and the operators' side of the data model: API keys, webhook subscriptions,
outbound events and their delivery log, alert channels, idempotent API writes, console operators
and their sessions. ``kade.models`` re-exports every table, so importing it registers them all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kade.columns import _json, _now_ts, _ts


class ApiKey(SQLModel, table=True):
    """An HTTP API key. Only a SHA-256 digest of its secret part is kept (docs/decisions/api-key-hashing.md)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    #: the public part of the key, used to find the row; None tenant means an operator key
    key_id: str = Field(max_length=32, unique=True, index=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    scope: str = Field(max_length=20)
    name: str = Field(default="", max_length=100)
    secret_hash: str = Field(max_length=64, repr=False)
    created_at: datetime = _now_ts()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class WebhookSubscription(SQLModel, table=True):
    """A tenant's endpoint for signed events; the signing secret is stored encrypted (it must sign)."""

    __tablename__ = "webhook_subscriptions"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    url: str = Field(max_length=1000)
    events: list[str] = _json(list)
    secret_encrypted: str = Field(sa_type=sa.Text, repr=False)
    created_at: datetime = _now_ts()
    removed_at: datetime | None = _ts(nullable=True)


class OutboundEvent(SQLModel, table=True):
    """An event for the warehouse, written in the transaction of its cause; ``event_id`` dedupes."""

    __tablename__ = "outbound_events"

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=40, unique=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    type: str = Field(max_length=40)
    #: what the event is about, e.g. ``order:12`` — deliveries of one subject keep their order
    subject: str = Field(max_length=100)
    data: dict[str, Any] = _json()
    created_at: datetime = _now_ts()


class WebhookAttempt(SQLModel, table=True):
    """The delivery log: one row per attempt to deliver an event to a subscription."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="actions.id", index=True)
    subscription_id: int = Field(foreign_key="webhook_subscriptions.id", index=True)
    event_id: int = Field(foreign_key="outbound_events.id", index=True)
    at: datetime = _now_ts()
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)
    duration_ms: int = 0


class AlertChannel(SQLModel, table=True):
    """Where notifications reach a person (an Apprise URL: mailto://, slack://, msteams://, json://...).

    ``tenant_id`` None: operator-wide, it receives every tenant's notifications and Kade's own.
    """

    __tablename__ = "alert_channels"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    name: str = Field(max_length=100)
    url_encrypted: str = Field(sa_type=sa.Text, repr=False)
    #: notification kinds sent here; empty means all
    kinds: list[str] = _json(list)
    created_at: datetime = _now_ts()


class IdempotentRequest(SQLModel, table=True):
    """A client-keyed API write done once; a repeat with the same key gets the stored answer."""

    __tablename__ = "idempotent_requests"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "operation", "key", name="uq_idempotent_request"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    operation: str = Field(max_length=40)
    key: str = Field(max_length=200)
    request_digest: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = _json()
    created_at: datetime = _now_ts()


class Operator(SQLModel, table=True):
    """A person who runs Kade from the console; scoped to some tenants or (none listed) to all."""

    __tablename__ = "operators"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    #: ``scrypt$n$r$p$salt$hash`` (kade.operators)
    password_hash: str = Field(max_length=300, repr=False)
    #: True: every tenant; False: only those in ``operator_tenants``
    all_tenants: bool = True
    created_at: datetime = _now_ts()


class OperatorTenant(SQLModel, table=True):
    __tablename__ = "operator_tenants"
    __table_args__ = (sa.UniqueConstraint("operator_id", "tenant_id", name="uq_operator_tenant"),)

    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(foreign_key="operators.id", index=True)
    tenant_id: int = Field(foreign_key="tenants.id", index=True)


class OperatorSession(SQLModel, table=True):
    """A console login; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "operator_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    operator_id: int = Field(foreign_key="operators.id", index=True)
    csrf_token: str = Field(max_length=64, repr=False)
    created_at: datetime = _now_ts()
    expires_at: datetime = _now_ts()
