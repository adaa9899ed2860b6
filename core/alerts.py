"""Alerts that reach a person: notifications sent through channels an operator configures.

A channel is an Apprise URL (``mailto://``, ``slack://``, ``msteams://``, ``json://`` for a
generic webhook, ...), stored encrypted because such URLs hold tokens. A tenant's channels get
that tenant's notifications; operator-wide channels (no tenant) get every notification,
including Kade's own (the active-connection drop). A notification alerts when it *appears* or
comes back after being cleared — never on each repeat, which only bumps its count — and the
alert is an outbox action, delivered and retried by the workers like every other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import record_event
from kade.claims import claim
from kade.errors import UserError
from kade.executor import Outcome, backoff
from kade.logs import redact_text
from kade.models import Action, ActionKind, ActionStatus, AlertChannel, Notification, Tenant, utcnow
from kade.secrets import Vault


def _check_url(url: str) -> None:
    import apprise

    if not apprise.Apprise().add(url):
        raise UserError("not a notification URL Apprise understands (e.g. mailto://, slack://, msteams://, "
                        "json://host/path); see https://github.com/caronc/apprise/wiki")


def add_channel(session: Session, vault: Vault, tenant: Tenant | None, name: str, url: str,
                kinds: Sequence[str] = ()) -> AlertChannel:
    """Add a channel for ``tenant`` (None: operator-wide); ``kinds`` limits which notifications go there."""
    if not name.strip():
        raise UserError("an alert channel needs a name")
    _check_url(url)
    channel = AlertChannel(tenant_id=tenant.id if tenant else None, name=name.strip(),
                           url_encrypted=vault.encrypt({"url": url}), kinds=sorted({k for k in kinds if k}))
    session.add(channel)
    session.flush()
    record_event(session, "alert_channel_added", "ok", f"channel {channel.name}", tenant_id=channel.tenant_id)
    return channel


def list_channels(session: Session, tenant: Tenant | None = None) -> list[AlertChannel]:
    query = select(AlertChannel).order_by(col(AlertChannel.id))
    if tenant is not None:
        query = query.where(AlertChannel.tenant_id == tenant.id)
    return list(session.exec(query).all())


def remove_channel(session: Session, channel_id: int) -> AlertChannel:
    channel = session.get(AlertChannel, channel_id)
    if channel is None:
        raise UserError(f"no alert channel {channel_id} (see `kade alert list`)")
    session.execute(sa.update(Action).where(col(Action.kind) == ActionKind.ALERT,
                                            col(Action.idempotency_key).like(f"alert:{channel_id}:%"),
                                            col(Action.status) == ActionStatus.PENDING)
                    .values(status=ActionStatus.CANCELLED, last_error="channel removed", updated_at=utcnow()))
    session.delete(channel)
    return channel


def queue_alerts(session: Session, note: Notification) -> int:
    """Queue one alert per matching channel for a notification that just appeared (or reappeared)."""
    assert note.id is not None
    query = select(AlertChannel.id, AlertChannel.kinds)
    query = query.where(sa.or_(col(AlertChannel.tenant_id).is_(None), col(AlertChannel.tenant_id) == note.tenant_id)
                        if note.tenant_id is not None else col(AlertChannel.tenant_id).is_(None))
    now = utcnow()
    values = [
        {"tenant_id": note.tenant_id, "connection_id": None, "kind": ActionKind.ALERT.value,
         "idempotency_key": f"alert:{channel_id}:{note.id}:{note.count}:{now.timestamp()}",
         "status": ActionStatus.PENDING.value, "payload": {"channel_id": channel_id, "notification_id": note.id},
         "attempts": 0, "next_attempt_at": now, "created_at": now, "updated_at": now}
        for channel_id, kinds in session.exec(query).all() if not kinds or note.kind in kinds
    ]
    if values:
        session.connection().execute(Action.__table__.insert(), values)  # type: ignore[attr-defined]
    return len(values)


def send(url: str, title: str, body: str) -> bool:
    """Send one message through Apprise; False when the service refused or could not be reached."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(sender.notify(title=title, body=body))


def run_alert(kade: Kade, action_id: int) -> Outcome:
    """Deliver one alert (the outbox runner for ``alert`` actions)."""
    with kade.db.transaction() as session:
        action = claim(session, action_id)
        if action is None:
            return Outcome("skipped")
        channel = session.get(AlertChannel, action.payload["channel_id"])
        note = session.get(Notification, action.payload["notification_id"])
        if channel is None or note is None:
            action.status, action.done_at = ActionStatus.CANCELLED, utcnow()
            session.add(action)
            return Outcome("cancelled")
        url = kade.vault.decrypt(channel.url_encrypted)["url"]
        title = f"Kade: {note.kind.replace('_', ' ')}"
        body = note.message
        attempts = action.attempts
    ok = send(url, title, body)
    with kade.db.transaction() as session:
        action = session.get(Action, action_id)
        assert action is not None
        now = utcnow()
        if ok:
            action.status, action.done_at, action.updated_at = ActionStatus.DONE, now, now
            session.add(action)
            record_event(session, "alert_sent", "ok", title, tenant_id=action.tenant_id, action_id=action_id)
            return Outcome("done")
        if attempts >= kade.settings.max_attempts:
            # No notification about a failed alert: it would alert through the same broken channel.
            action.status, action.done_at, action.last_error = ActionStatus.FAILED, now, "channel refused the alert"
            session.add(action)
            record_event(session, "alert_sent", "failed", redact_text(title), tenant_id=action.tenant_id,
                         action_id=action_id)
            return Outcome("failed")
        action.status, action.enqueued_at, action.updated_at = ActionStatus.PENDING, None, now
        action.next_attempt_at = now + timedelta(seconds=backoff(attempts))
        action.last_error = "channel refused the alert or was unreachable"
        session.add(action)
        return Outcome("retry")
