"""What a run of an outbox action ends in, and what an error means for the action.

Shared by every kind of action (shipments, cancellations, stock pushes, warehouse webhooks):
auth → ``needs_reauth`` and wait, rate limit → wait Retry-After, transient → exponential
backoff with jitter, permanent → ``failed`` + a notification.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from kade.app import Kade
from kade.audit import notify
from kade.errors import AuthRejected, PlatformError, RateLimited, RejectedByStore
from kade.logs import redact_text
from kade.manager import UnsupportedOperation
from kade.models import Action, ActionKind, ActionStatus, Connection, utcnow
from kade.status import SENDING, login_rejected

MIN_BACKOFF = 2.0
MAX_BACKOFF = 3600.0
#: how long an asynchronous store (Bol process status) gets before we look again
PENDING_RECHECK = 5.0


@dataclass
class Outcome:
    status: str
    detail: str = ""


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter between ``MIN_BACKOFF`` and ``MAX_BACKOFF`` seconds."""
    ceiling = min(MAX_BACKOFF, MIN_BACKOFF * (2 ** max(0, attempts - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def lost(action_id: int) -> Outcome:
    return Outcome("lost", f"action {action_id} was reclaimed while its call ran; another worker owns it")


def release(session: Session, action: Action, *, delay: float = 0.0, at: datetime | None = None,
            error: str | None = None, kind: str | None = None, count_attempt: bool = True) -> None:
    """Put a claimed action back to pending, due in ``delay`` seconds or ``at`` a given time;
    ``count_attempt`` False gives back the attempt its claim counted (it never reached the store)."""
    action.status = ActionStatus.PENDING
    action.claimed_by = None
    action.next_attempt_at = at if at is not None else utcnow() + timedelta(seconds=delay)
    action.enqueued_at = None
    action.updated_at = utcnow()
    if not count_attempt:
        action.attempts = max(0, action.attempts - 1)
    if error is not None:
        action.last_error = redact_text(error)
        action.error_kind = kind
    session.add(action)


def finish(session: Session, action: Action, status: ActionStatus, *, error: str | None = None,
           kind: str | None = None, reference: str | None = None) -> None:
    action.status = status
    action.claimed_by = None
    action.updated_at = utcnow()
    action.done_at = utcnow()
    if error is not None:
        action.last_error = redact_text(error)
        action.error_kind = kind
    if reference is not None:
        action.remote_reference = reference
    session.add(action)


def handle_failure(kade: Kade, session: Session, action: Action, connection: Connection, exc: Exception) -> Outcome:
    """Decide what an error means for ``action`` (shared by every action kind)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, AuthRejected):
        login_rejected(session, connection, exc)
        # The action waits, untouched, until the connection is re-authorised.
        release(session, action, delay=0, error=text, kind=exc.kind, count_attempt=False)
        return Outcome("waiting", "connection needs re-authorisation")
    if isinstance(exc, RateLimited):
        release(session, action, delay=max(exc.retry_after, 0.0), error=text, kind=exc.kind, count_attempt=False)
        return Outcome("rate_limited", f"retry after {exc.retry_after:.2f}s")
    if isinstance(exc, RejectedByStore):
        finish(session, action, ActionStatus.FAILED, error=text, kind=exc.kind)
        notify(session, "action_rejected",
               f"{action.kind} for {connection.name} was refused by the store: {exc.message}",
               dedupe_key=f"rejected:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("rejected", exc.message)
    if isinstance(exc, UnsupportedOperation):
        # A missing hook stays missing: retrying it eight times would only hide the cause.
        finish(session, action, ActionStatus.FAILED, error=text, kind="unsupported")
        notify(session, "action_unsupported", f"{action.kind} for {connection.name}: {exc}",
               dedupe_key=f"unsupported:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("unsupported", str(exc))
    kind = exc.kind if isinstance(exc, PlatformError) else "error"
    if action.attempts >= kade.settings.max_attempts:
        finish(session, action, ActionStatus.FAILED, error=text, kind=kind)
        notify(session, "retries_exhausted",
               f"{action.kind} for {connection.name} failed {action.attempts} times; last error: {exc}. "
               f"Retry with `kade actions retry {action.id}`.",
               dedupe_key=f"exhausted:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("failed", text)
    release(session, action, delay=backoff(action.attempts), error=text, kind=kind)
    return Outcome("retry", text)


# ---------------------------------------------------------------------------------------------
# Shipments


def claim_sending(kade: Kade, session: Session, kind: ActionKind, first_id: int, owner: str,
                  limit: int) -> tuple[list[Action], Connection] | dict[int, Outcome]:
    """Claim a batch (``kade.claims.claim_batch``) and load its connection; or, when nothing was
    claimed or the connection may not send now, the outcomes instead (those actions released to
    wait for the sweeper, their attempt not counted). Shared by the batched runners."""
    from kade.claims import claim_batch

    actions = claim_batch(session, kind, first_id, owner, limit)
    if not actions:
        return {first_id: Outcome("skipped", "not due or taken by another worker")}
    connection = session.get(Connection, actions[0].connection_id)
    assert connection is not None
    if connection.status not in SENDING:
        for action in actions:
            release(session, action, delay=kade.settings.sweep_after, count_attempt=False)
        return {action.id or 0: Outcome("waiting", f"connection is {connection.status}") for action in actions}
    return actions, connection
