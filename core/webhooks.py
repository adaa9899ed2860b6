"""Webhook deliveries: verified by the platform's plugin, deduplicated by the core.

A delivery only tells Kade *that* something changed; the order itself is fetched through the
one ingest path (an import of the connection), so a webhook and a poll can never disagree and a
replayed delivery creates nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from kade.app import Kade
from kade.audit import record_event
from kade.errors import UserError, WebhookRejected
from kade.models import WebhookDelivery
from kade.status import RUNNING


@dataclass
class WebhookOutcome:
    status: str  # "accepted", "duplicate", "ignored", "ping"
    delivery_id: str | None = None


def receive(kade: Kade, connection_id: int, headers: Mapping[str, str], body: bytes,
            on_order_change: Callable[[int], None]) -> WebhookOutcome:
    """Verify, deduplicate and act on one delivery. Raises ``WebhookRejected`` when unauthentic."""
    connection = kade.load_connection(connection_id)
    platform = kade.pm.platform(connection.platform)
    if not platform.spec.capabilities.webhooks:
        raise UserError(f"{platform.name} connections do not take webhooks")
    ctx = kade.context(connection)
    if not platform.verify_webhook(ctx, headers, body):
        raise WebhookRejected(f"webhook for {connection.name} failed verification")
    event = platform.parse_webhook(ctx, headers, body)
    if event is None:
        return WebhookOutcome("ignored")
    if event.topic == "ping":
        return WebhookOutcome("ping", event.delivery_id)
    try:
        with kade.db.transaction() as session:
            session.add(WebhookDelivery(connection_id=connection_id, delivery_id=event.delivery_id))
            session.flush()
            record_event(session, "webhook", "accepted", f"{event.topic} {event.remote_id or ''}".strip(),
                         tenant_id=connection.tenant_id, connection_id=connection_id,
                         data={"delivery_id": event.delivery_id, "topic": event.topic})
    except sa.exc.IntegrityError:
        return WebhookOutcome("duplicate", event.delivery_id)
    if event.topic.startswith("order_") and connection.status in RUNNING:
        on_order_change(connection_id)
    return WebhookOutcome("accepted", event.delivery_id)
