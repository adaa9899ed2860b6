"""Webhook deliveries: verified by the platform's plugin, deduplicated and queued by the core.

A delivery only tells Kade *that* something changed; the order itself is fetched through the
one ingest path (an import of the connection), so a webhook and a poll can never disagree and a
replayed delivery creates nothing.

The delivery and its import request are written in one transaction: the request is an outbox
action, so a broker that is down when the delivery arrives costs a delay (the sweeper re-drives
it), never the import — and a store's retry, answered "duplicate", loses nothing.

Replays: a platform that signs a timestamp gets it checked against a tolerance; for every
platform the same body again within ``webhook_replay_window`` is a duplicate, whatever delivery
id it carries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import record_event
from kade.boundary import scrub, text_problem
from kade.errors import KadeError, PlatformError, UserError, WebhookRejected
from kade.logs import get_logger
from kade.models import ActionKind, Connection, WebhookDelivery, utcnow
from kade.outbox import add_action
from kade.status import RUNNING

#: the column's length; a longer delivery id is refused rather than cut (two could collide)
MAX_DELIVERY_ID = 200
#: no real order payload nests this deep; deeper JSON would exhaust the parser's recursion
MAX_JSON_DEPTH = 64
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
log = get_logger(__name__)


class BadDelivery(UserError):
    """A delivery Kade cannot take as sent (answered 400 with this message)."""


@dataclass
class WebhookOutcome:
    status: str  # "accepted", "duplicate", "ignored", "ping"
    delivery_id: str | None = None
    #: import requests (outbox actions) to hand to the broker after the commit
    action_ids: list[int] = field(default_factory=list)


def find_connection(kade: Kade, token: str) -> Connection | None:
    """The connection a webhook URL token names, or None — for every kind of wrong URL alike."""
    if not _TOKEN.fullmatch(token):
        return None
    with kade.db.session() as session:
        connection = session.exec(select(Connection).where(Connection.webhook_token == token)).first()
        if connection is None:
            return None
        session.expunge(connection)
    try:
        platform = kade.pm.platform(connection.platform)
    except UserError:  # its plugin is not installed (any more)
        return None
    return connection if platform.spec.capabilities.webhooks else None


def json_depth(body: bytes) -> int:
    """How deeply ``body`` nests arrays and objects (strings skipped), without parsing it."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def receive(kade: Kade, connection: Connection, headers: Mapping[str, str], body: bytes, *,
            now: datetime | None = None) -> WebhookOutcome:
    """Verify, deduplicate and record one delivery (with its import request).

    Raises ``WebhookRejected`` when unauthentic or outside the signed-timestamp window, and
    ``BadDelivery`` when it cannot be taken as sent (too deep, an over-long delivery id).
    """
    assert connection.id is not None
    now = now or utcnow()
    settings = kade.settings
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    if not platform.verify_webhook(ctx, headers, body):
        raise WebhookRejected(f"webhook for {connection.name} failed verification")
    depth = json_depth(body)
    if depth > MAX_JSON_DEPTH:
        raise BadDelivery(f"the body nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted")
    try:
        event = platform.parse_webhook(ctx, headers, body)
    except KadeError:
        raise
    except RecursionError:
        raise BadDelivery("the body nests too deeply to parse") from None
    except Exception as exc:  # the plugin choked on what the store sent: the store's input, a 400
        log.error("webhook_unreadable", connection_id=connection.id, error=f"{type(exc).__name__}: {exc}",
                  exc_info=True)
        raise BadDelivery(f"the delivery could not be read ({type(exc).__name__})") from None
    if event is None:
        return WebhookOutcome("ignored")
    if len(event.delivery_id) > MAX_DELIVERY_ID:
        raise BadDelivery(f"the delivery id is {len(event.delivery_id)} characters long; "
                          f"at most {MAX_DELIVERY_ID} are accepted")
    problem = text_problem(event.delivery_id)
    if problem is not None:
        raise BadDelivery(f"the delivery id {problem}")
    if event.topic == "ping":
        return WebhookOutcome("ping", event.delivery_id)
    if event.signed_at is not None:
        skew = abs((now - event.signed_at).total_seconds())
        if skew > settings.webhook_timestamp_tolerance:
            raise WebhookRejected(f"the signed timestamp is {skew:.0f}s away from now "
                                  f"(tolerance {settings.webhook_timestamp_tolerance:.0f}s): a replay or a wrong clock")
    body_digest = hashlib.sha256(body).hexdigest()
    since = now - timedelta(seconds=settings.webhook_replay_window)
    with kade.db.transaction() as session:
        seen = session.exec(
            select(WebhookDelivery.id).where(
                WebhookDelivery.connection_id == connection.id,
                sa.or_(col(WebhookDelivery.delivery_id) == event.delivery_id,
                       sa.and_(col(WebhookDelivery.body_digest) == body_digest,
                               col(WebhookDelivery.received_at) >= since)),
            ).limit(1)
        ).first()
        if seen is not None:
            return WebhookOutcome("duplicate", event.delivery_id)
        try:
            with session.begin_nested():
                session.add(WebhookDelivery(connection_id=connection.id, delivery_id=event.delivery_id,
                                            body_digest=body_digest, received_at=now))
        except sa.exc.IntegrityError:  # the same delivery, committed a moment ago by a parallel request
            return WebhookOutcome("duplicate", event.delivery_id)
        record_event(session, "webhook", "accepted", scrub(f"{event.topic} {event.remote_id or ''}".strip()),
                     tenant_id=connection.tenant_id, connection_id=connection.id,
                     data={"delivery_id": event.delivery_id, "topic": event.topic})
        ids: list[int] = []
        if event.topic.startswith("order_") and connection.status in RUNNING:
            ids.append(request_import(session, connection, delivery_id=event.delivery_id))
    return WebhookOutcome("accepted", event.delivery_id, ids)


def import_key(connection_id: int) -> str:
    return f"import_orders:{connection_id}:pending"


def request_import(session: Session, connection: Connection, *, delivery_id: str | None = None) -> int:
    """Queue an order import of ``connection`` as an outbox action (in the caller's transaction);
    the action's id.

    Requests coalesce: while one waits, another is the same row. The runner renames the key
    when it claims the action, so a request arriving during an import runs once more after.
    """
    assert connection.id is not None
    action_id, _ = add_action(session, tenant_id=connection.tenant_id, connection_id=connection.id,
                              kind=ActionKind.IMPORT_ORDERS, key=import_key(connection.id),
                              payload={"source": "webhook", "delivery_id": delivery_id})
    return action_id


def run_import_request(kade: Kade, action_id: int) -> object:
    """Run a queued import (the executor's runner for ``import_orders`` actions).

    Like every runner it renews its claim while the import runs and writes the outcome only if
    it still holds the claim: a claim the sweeper took back belongs to another worker.
    """
    from kade import ingest
    from kade.claims import KeepClaimed, claim, new_claim, owned
    from kade.models import ActionStatus
    from kade.outcomes import Outcome, handle_failure
    from kade.outcomes import finish as _finish
    from kade.outcomes import lost as _lost

    owner = new_claim()
    with kade.db.transaction() as session:
        action = claim(session, action_id, owner=owner)
        if action is None:
            return Outcome("skipped")
        action.idempotency_key = f"import_orders:{action.connection_id}:run:{action.id}"
        session.add(action)
        connection_id = action.connection_id
        assert connection_id is not None  # an import request always names its connection
    try:
        with KeepClaimed(kade, owner):
            stats = ingest.import_orders(kade, connection_id)
    except PlatformError as exc:
        with kade.db.transaction() as session:
            row = owned(session, action_id, owner)
            if row is None:
                return _lost(action_id)
            conn = session.get(Connection, connection_id)
            assert conn is not None
            outcome: object = handle_failure(kade, session, row, conn, exc)
        return outcome
    with kade.db.transaction() as session:
        row = owned(session, action_id, owner)
        if row is None:
            return _lost(action_id)
        _finish(session, row, ActionStatus.DONE)
    return Outcome("done", f"{stats.created} new, {stats.updated} changed")


def rotate_webhook_token(session: Session, connection: Connection, *, actor: str = "cli") -> str:
    """Give ``connection`` a new webhook URL token; the old URL stops working at once."""
    from kade.models import new_webhook_token

    connection.webhook_token = new_webhook_token()
    connection.updated_at = utcnow()
    session.add(connection)
    record_event(session, "webhook_token_rotated", "ok",
                 f"{connection.name}: new webhook URL; update it in the store", tenant_id=connection.tenant_id,
                 connection_id=connection.id, data={"actor": actor})
    return connection.webhook_token
