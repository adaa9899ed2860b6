"""Signed events out to the warehouse: subscriptions, emission, delivery, the log and replay.

An event is a row written in the transaction of its cause (an order imported, a shipment
confirmed...), and so is one outbox action per subscription that wants it: the sweeper and the
workers deliver them like any other action. Each delivery is signed with the subscription's
secret — ``Kade-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`` — and
carries ``Kade-Event-Id`` for deduplication. Deliveries about one order share an ordering key
and go out one at a time, oldest first, so a WMS that was down for hours still sees an order's
events in order once it is back.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import notify, record_event
from kade.claims import claim
from kade.errors import NotFoundError, UserError
from kade.http import HostRouter
from kade.logs import redact_text
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    OutboundEvent,
    Tenant,
    WebhookAttempt,
    WebhookSubscription,
    utcnow,
)
from kade.outcomes import Outcome, backoff, release
from kade.secrets import Vault

EVENT_TYPES = (
    "orders.created", "orders.changed", "orders.cancelled", "shipments.confirmed", "shipments.refused",
    "notifications.created", "connections.status_changed",
)
#: a delivery is retried with backoff for this long before it is marked failed (and an alert raised)
GIVE_UP_AFTER = timedelta(days=3)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_CACHE = "kade.outbound.subscriptions"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Kade-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does: check the signature and refuse stale timestamps (replays)."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


# ---------------------------------------------------------------------------------------------
# Subscriptions


def _check_events(events: Sequence[str]) -> list[str]:
    chosen = sorted({e.strip() for e in events if e.strip()})
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown or not chosen:
        raise UserError(f"unknown event type(s) {', '.join(unknown) or '(none given)'}; "
                        f"known: {', '.join(EVENT_TYPES)}")
    return chosen


def add_subscription(session: Session, vault: Vault, tenant: Tenant, url: str,
                     events: Sequence[str]) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to ``events``; returns the subscription and its signing secret (shown once)."""
    try:
        parsed = httpx.URL(url) if url.startswith(("http://", "https://")) else None
    except (httpx.InvalidURL, ValueError):  # a bad port, host or character (UnicodeError is a ValueError)
        parsed = None
    if parsed is None or not parsed.host or not 0 < (parsed.port or 80) < 65536:
        raise UserError(f"webhook URL {url!r} must be an absolute http:// or https:// URL")
    assert tenant.id is not None
    secret = "whsec_" + secrets.token_urlsafe(32)
    sub = WebhookSubscription(tenant_id=tenant.id, url=url, events=_check_events(events),
                              secret_encrypted=vault.encrypt({"secret": secret}))
    session.add(sub)
    session.flush()
    record_event(session, "webhook_subscribed", "ok", f"{url}: {', '.join(sub.events)}", tenant_id=tenant.id)
    session.info.pop(_CACHE, None)
    return sub, secret


def list_subscriptions(session: Session, tenant: Tenant) -> list[WebhookSubscription]:
    return list(session.exec(
        select(WebhookSubscription).where(WebhookSubscription.tenant_id == tenant.id,
                                          col(WebhookSubscription.removed_at).is_(None))
        .order_by(col(WebhookSubscription.id))
    ).all())


def get_subscription(session: Session, tenant: Tenant, subscription_id: int) -> WebhookSubscription:
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.tenant_id != tenant.id or sub.removed_at is not None:
        raise NotFoundError(f"tenant {tenant.slug!r} has no webhook subscription {subscription_id}")
    return sub


def remove_subscription(session: Session, tenant: Tenant, subscription_id: int) -> int:
    """Remove a subscription; its undelivered events are cancelled. Returns how many."""
    sub = get_subscription(session, tenant, subscription_id)
    sub.removed_at = utcnow()
    session.add(sub)
    result = session.execute(
        sa.update(Action).where(col(Action.kind) == ActionKind.WEBHOOK,
                                col(Action.idempotency_key).like(f"webhook:{sub.id}:%"),
                                col(Action.status) == ActionStatus.PENDING)
        .values(status=ActionStatus.CANCELLED, last_error="subscription removed", updated_at=utcnow())
    )
    session.info.pop(_CACHE, None)
    record_event(session, "webhook_unsubscribed", "ok", sub.url, tenant_id=tenant.id)
    return int(result.rowcount)  # type: ignore[attr-defined]


def _subscribers(session: Session, tenant_id: int) -> list[tuple[int, list[str]]]:
    cache: dict[int, list[tuple[int, list[str]]]] = session.info.setdefault(_CACHE, {})
    if tenant_id not in cache:
        cache[tenant_id] = [
            (sub_id or 0, list(events)) for sub_id, events in session.exec(
                select(WebhookSubscription.id, WebhookSubscription.events)
                .where(WebhookSubscription.tenant_id == tenant_id, col(WebhookSubscription.removed_at).is_(None))
            ).all()
        ]
    return cache[tenant_id]


# ---------------------------------------------------------------------------------------------
# Emission (inside the cause's transaction)


def order_event(order_id: int, number: str, connection_id: int | None, status: str) -> dict[str, Any]:
    """An order event's data: enough to decide, the rest is one ``GET /api/v1/orders/{id}`` away."""
    return {"order": {"id": order_id, "number": number, "connection_id": connection_id, "status": str(status)}}


def emit(session: Session, tenant_id: int | None, type_: str, subject: str, data: dict[str, Any]) -> int:
    return emit_many(session, tenant_id, type_, [(subject, data)])


def emit_many(session: Session, tenant_id: int | None, type_: str,
              items: Sequence[tuple[str, dict[str, Any]]]) -> int:
    """Write events of one type and a delivery action per interested subscription; returns deliveries.

    Costs one query per transaction and tenant when nobody subscribed (the import's hot path).
    """
    assert type_ in EVENT_TYPES, type_
    if tenant_id is None or not items:
        return 0
    subs = [sub_id for sub_id, events in _subscribers(session, tenant_id) if type_ in events]
    if not subs:
        return 0
    now = utcnow()
    events_table = OutboundEvent.__table__  # type: ignore[attr-defined]
    rows = [{"event_id": uuid.uuid4().hex, "tenant_id": tenant_id, "type": type_, "subject": subject,
             "data": data, "created_at": now} for subject, data in items]
    ids = [r[0] for r in session.connection().execute(
        events_table.insert().returning(events_table.c.id, sort_by_parameter_order=True), rows).all()]
    actions_table = Action.__table__  # type: ignore[attr-defined]
    values = [
        {"tenant_id": tenant_id, "connection_id": None, "kind": ActionKind.WEBHOOK.value,
         "idempotency_key": f"webhook:{sub_id}:{event_id}", "status": ActionStatus.PENDING.value,
         "payload": {"subscription_id": sub_id, "event_id": event_id}, "attempts": 0, "next_attempt_at": now,
         "created_at": now, "updated_at": now, "ordering_key": f"webhook:{sub_id}:{row['subject']}"}
        for event_id, row in zip(ids, rows, strict=True) for sub_id in subs
    ]
    session.connection().execute(actions_table.insert(), values)
    return len(values)


# ---------------------------------------------------------------------------------------------
# Delivery


def body_of(event: OutboundEvent) -> bytes:
    return json.dumps({"id": event.event_id, "type": event.type, "created_at": event.created_at.isoformat(),
                       "data": event.data}, separators=(",", ":"), sort_keys=True).encode()


def run_delivery(kade: Kade, action_id: int) -> Outcome:
    """Deliver one event to one subscription (the outbox runner for ``webhook`` actions)."""
    with kade.db.transaction() as session:
        action = claim(session, action_id)
        if action is None:
            return Outcome("skipped", "not due or taken by another worker")
        sub = session.get(WebhookSubscription, action.payload["subscription_id"])
        event = session.get(OutboundEvent, action.payload["event_id"])
        assert sub is not None and event is not None
        now = utcnow()
        if sub.removed_at is not None:
            action.status, action.done_at, action.last_error = ActionStatus.CANCELLED, now, "subscription removed"
            session.add(action)
            return Outcome("cancelled")
        earlier = session.exec(
            select(Action.next_attempt_at).where(
                Action.ordering_key == action.ordering_key, col(Action.id) < action_id,
                col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING]))
            .order_by(col(Action.id)).limit(1)
        ).first()
        if earlier is not None:
            # An older event about the same order is still on its way: this one goes after it.
            release(session, action, at=max(earlier, now) + timedelta(milliseconds=200), count_attempt=False)
            return Outcome("waiting", "an earlier event of the same subject is undelivered")
        secret = kade.vault.decrypt(sub.secret_encrypted)["secret"]
        url, body, event_uuid, event_pk = sub.url, body_of(event), event.event_id, event.id
        sub_id, tenant_id, attempts = sub.id, action.tenant_id, action.attempts
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "Kade-Webhooks/0.1",
               "Kade-Event-Id": event_uuid, "Kade-Event-Type": event.type, "Kade-Timestamp": str(timestamp),
               "Kade-Signature": sign(secret, timestamp, body), "Kade-Delivery-Attempt": str(attempts)}
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    try:
        with httpx.Client(transport=HostRouter(kade.routes), timeout=TIMEOUT) as client:
            response = client.post(url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration = int((time.monotonic() - started) * 1000)
    with kade.db.transaction() as session:
        action = session.get(Action, action_id)
        assert action is not None and sub_id is not None and event_pk is not None
        session.add(WebhookAttempt(action_id=action_id, subscription_id=sub_id, event_id=event_pk,
                                   status_code=status_code, error=redact_text(error) if error else None,
                                   duration_ms=duration))
        now = utcnow()
        if error is None:
            action.status, action.done_at, action.updated_at, action.last_error = (
                ActionStatus.DONE, now, now, None)
            session.add(action)
            # The endpoint answers again: what waited in backoff for it goes now, in order.
            session.execute(
                sa.update(Action).where(col(Action.kind) == ActionKind.WEBHOOK,
                                        col(Action.idempotency_key).like(f"webhook:{sub_id}:%"),
                                        col(Action.status) == ActionStatus.PENDING,
                                        col(Action.next_attempt_at) > now)
                .values(next_attempt_at=now, enqueued_at=None)
            )
            return Outcome("done")
        if now - action.created_at >= GIVE_UP_AFTER:
            action.status, action.done_at, action.last_error = ActionStatus.FAILED, now, redact_text(error)
            session.add(action)
            notify(session, "webhook_failing",
                   f"Webhook {url} has refused or missed events for {GIVE_UP_AFTER.days} days; last error: "
                   f"{error}. Replay with `kade webhook replay`.",
                   dedupe_key=f"webhook_failing:{sub_id}", tenant_id=tenant_id)
            return Outcome("failed", error)
        release(session, action, delay=backoff(action.attempts), error=error)
        record_event(session, "webhook_delivery", "retry", f"{url}: {error}", tenant_id=tenant_id,
                     action_id=action_id)
        return Outcome("retry", error)


# ---------------------------------------------------------------------------------------------
# The delivery log and replay


def list_deliveries(session: Session, tenant: Tenant, *, subscription_id: int | None = None,
                    failed: bool = False, limit: int = 50) -> list[tuple[Action, OutboundEvent]]:
    """Deliveries newest first, with their event (``failed``: only those given up on)."""
    query = (
        select(Action, OutboundEvent)
        .join(OutboundEvent, col(OutboundEvent.id) == sa.cast(Action.payload["event_id"].as_string(), sa.Integer))
        .where(Action.kind == ActionKind.WEBHOOK, Action.tenant_id == tenant.id)
        .order_by(col(Action.id).desc()).limit(limit)
    )
    if subscription_id is not None:
        query = query.where(col(Action.idempotency_key).like(f"webhook:{subscription_id}:%"))
    if failed:
        query = query.where(Action.status == ActionStatus.FAILED)
    return [(a, e) for a, e in session.exec(query).all()]


def attempts_of(session: Session, action_id: int) -> list[WebhookAttempt]:
    return list(session.exec(select(WebhookAttempt).where(WebhookAttempt.action_id == action_id)
                             .order_by(col(WebhookAttempt.id))).all())


def replay(session: Session, tenant: Tenant, *, action_ids: Sequence[int] = (), subscription_id: int | None = None,
           since: datetime | None = None) -> int:
    """Send deliveries again (same event id, so receivers can dedupe): by id, or a subscription's since a time."""
    query = select(Action).where(Action.kind == ActionKind.WEBHOOK, Action.tenant_id == tenant.id,
                                 col(Action.status) != ActionStatus.RUNNING)
    if action_ids:
        query = query.where(col(Action.id).in_(list(action_ids)))
        if subscription_id is not None:
            get_subscription(session, tenant, subscription_id)
            query = query.where(col(Action.idempotency_key).like(f"webhook:{subscription_id}:%"))
    elif subscription_id is not None and since is not None:
        get_subscription(session, tenant, subscription_id)
        query = query.where(col(Action.idempotency_key).like(f"webhook:{subscription_id}:%"),
                            col(Action.created_at) >= since)
    else:
        raise UserError("name delivery ids, or a subscription with --since")
    rows = list(session.exec(query.order_by(col(Action.id))).all())
    if action_ids and len(rows) != len(set(action_ids)):
        found = {r.id for r in rows}
        missing = [str(i) for i in action_ids if i not in found]
        raise NotFoundError(f"tenant {tenant.slug!r} has no replayable delivery {', '.join(missing)}")
    now = utcnow()
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = ActionStatus.PENDING, 0, now
        row.enqueued_at = row.done_at = None
        # a replay restarts the three-day retry budget too
        row.created_at = now
        session.add(row)
    return len(rows)
