"""Running outbox actions: claim, call the platform, record the outcome, decide the retry.

Every step that matters is committed before the next one starts:

1. *claim* — a conditional update moves the action from ``pending`` to ``running`` and counts
   the attempt. Two workers handed the same message cannot both win.
2. *call* — the plugin talks to the store. A retried shipment first asks the store whether an
   earlier attempt already landed (``check_shipment``), so an answer lost to a timeout or a
   ``kill -9`` never becomes a second shipment report.
3. *record* — the outcome, with typed errors deciding what follows: auth → ``needs_reauth``,
   rate limit → wait Retry-After, transient → exponential backoff with jitter, permanent →
   ``failed`` + a notification.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import notify, record_event
from kade.claims import KeepClaimed, claim, finish_owned, new_claim, owned
from kade.errors import (
    AuthRejected,
    PlatformError,
    RateLimited,
    RejectedByStore,
)
from kade.logs import get_logger, redact_text
from kade.manager import UnsupportedOperation
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    Connection,
    ConnectionStatus,
    Order,
    OrderLine,
    OrderState,
    Shipment,
    ShipmentStatus,
    utcnow,
)
from kade.models import ShipmentLine as ShipmentLineRow
from kade.shipments import check_origin
from kade.status import SENDING, change_status
from kade.types import (
    CancelRequest,
    RemoteShipmentState,
    ShipmentRequest,
    ShipmentRequestLine,
    ShipmentResult,
)

log = get_logger(__name__)
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


def _lost(action_id: int) -> Outcome:
    return Outcome("lost", f"action {action_id} was reclaimed while its call ran; another worker owns it")


def _release(session: Session, action: Action, *, delay: float, error: str | None = None,
             kind: str | None = None, count_attempt: bool = True) -> None:
    action.status = ActionStatus.PENDING
    action.claimed_by = None
    action.next_attempt_at = utcnow() + timedelta(seconds=delay)
    action.enqueued_at = None
    action.updated_at = utcnow()
    if not count_attempt:
        action.attempts = max(0, action.attempts - 1)
    if error is not None:
        action.last_error = redact_text(error)
        action.error_kind = kind
    session.add(action)


def _finish(session: Session, action: Action, status: ActionStatus, *, error: str | None = None,
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
        change_status(session, connection, ConnectionStatus.NEEDS_REAUTH, reason=str(exc) or "auth rejected",
                      actor="worker")
        # The action waits, untouched, until the connection is re-authorised.
        _release(session, action, delay=0, error=text, kind=exc.kind, count_attempt=False)
        return Outcome("waiting", "connection needs re-authorisation")
    if isinstance(exc, RateLimited):
        _release(session, action, delay=max(exc.retry_after, 0.0), error=text, kind=exc.kind, count_attempt=False)
        return Outcome("rate_limited", f"retry after {exc.retry_after:.2f}s")
    if isinstance(exc, RejectedByStore):
        _finish(session, action, ActionStatus.FAILED, error=text, kind=exc.kind)
        notify(session, "action_rejected",
               f"{action.kind} for {connection.name} was refused by the store: {exc.message}",
               dedupe_key=f"rejected:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("rejected", exc.message)
    if isinstance(exc, UnsupportedOperation):
        # A missing hook stays missing: retrying it eight times would only hide the cause.
        _finish(session, action, ActionStatus.FAILED, error=text, kind="unsupported")
        notify(session, "action_unsupported", f"{action.kind} for {connection.name}: {exc}",
               dedupe_key=f"unsupported:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("unsupported", str(exc))
    kind = exc.kind if isinstance(exc, PlatformError) else "error"
    if action.attempts >= kade.settings.max_attempts:
        _finish(session, action, ActionStatus.FAILED, error=text, kind=kind)
        notify(session, "retries_exhausted",
               f"{action.kind} for {connection.name} failed {action.attempts} times; last error: {exc}. "
               f"Retry with `kade actions retry {action.id}`.",
               dedupe_key=f"exhausted:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("failed", text)
    _release(session, action, delay=backoff(action.attempts), error=text, kind=kind)
    return Outcome("retry", text)


# ---------------------------------------------------------------------------------------------
# Shipments


def _shipment_request(session: Session, kade: Kade, action: Action, shipment: Shipment,
                      order: Order, connection: Connection) -> tuple[ShipmentRequest, list[Shipment]] | None:
    """Build the request the platform's capabilities allow, or None when it must wait (R8)."""
    caps = kade.pm.platform(connection.platform).spec.capabilities
    shipments = session.exec(select(Shipment).where(Shipment.order_id == order.id).order_by(col(Shipment.id))).all()
    reported_before = any(s.status == ShipmentStatus.REPORTED for s in shipments if s.id != shipment.id)
    completes = order.status == OrderState.SHIPPED and shipment.id == max(s.id or 0 for s in shipments)
    batch = [shipment]
    if not caps.partial_shipments:
        if not completes:
            return None  # held: reported together with the shipment that completes the order
        batch = [s for s in shipments if s.status == ShipmentStatus.PENDING]
    rows = session.exec(
        select(ShipmentLineRow, OrderLine)
        .join(OrderLine, col(OrderLine.id) == col(ShipmentLineRow.order_line_id))
        .where(col(ShipmentLineRow.shipment_id).in_([s.id for s in batch]))
    ).all()
    qty: dict[str, tuple[OrderLine, int]] = {}
    for sl, ol in rows:
        prev = qty.get(ol.remote_line_id, (ol, 0))[1]
        qty[ol.remote_line_id] = (ol, prev + sl.quantity)
    tracking = shipment.tracking_code
    url = shipment.tracking_url
    if caps.tracking == "first" and reported_before:
        tracking, url = None, None
    request = ShipmentRequest(
        shipment_id=shipment.id or 0, order_remote_id=order.remote_id, order_number=order.number,
        lines=tuple(ShipmentRequestLine(remote_line_id=rid, sku=ol.sku, quantity=n) for rid, (ol, n) in qty.items()),
        carrier=shipment.carrier, tracking_code=tracking, tracking_url=url, first=not reported_before,
        completes_order=completes, idempotency_key=f"kade-shipment-{shipment.id}",
    )
    return request, batch


def run_shipment(kade: Kade, action_id: int) -> Outcome:
    owner = new_claim()
    with kade.db.transaction() as session:
        action = claim(session, action_id, owner=owner)
        if action is None:
            return Outcome("skipped", "not due or taken by another worker")
        connection = session.get(Connection, action.connection_id)
        shipment = session.get(Shipment, action.payload["shipment_id"])
        assert connection is not None and shipment is not None
        order = session.get(Order, shipment.order_id)
        assert order is not None
        check_origin(order, connection.id or 0)  # R1, again at the last moment
        if connection.status not in SENDING:
            _release(session, action, delay=kade.settings.sweep_after, count_attempt=False)
            return Outcome("waiting", f"connection is {connection.status}")
        built = _shipment_request(session, kade, action, shipment, order, connection)
        if built is None:
            _finish(session, action, ActionStatus.DONE)
            record_event(session, "shipment_held", "ok",
                         f"order {order.number}: {connection.platform} takes no partial shipments; "
                         "reported when the order ships completely",
                         tenant_id=action.tenant_id, connection_id=connection.id, action_id=action.id)
            return Outcome("held")
        request, batch = built
        attempts = action.attempts
        reference = action.remote_reference
        session.expunge(connection)
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    try:
        result: ShipmentResult | None = None
        with KeepClaimed(kade, owner):
            if attempts > 1 or reference:
                # An earlier attempt may have landed: ask before sending again.
                result = platform.check_shipment(ctx, request, reference)
            if result is None:
                result = platform.report_shipment(ctx, request)
    except Exception as exc:
        with kade.db.transaction() as session:
            action = owned(session, action_id, owner)
            if action is None:
                return _lost(action_id)
            conn = session.get(Connection, connection.id)
            assert conn is not None
            if isinstance(exc, RejectedByStore) and exc.code == "order_cancelled":
                return _refused_cancelled(session, action, conn, order, batch, exc)
            outcome = handle_failure(kade, session, action, conn, exc)
            record_event(session, "shipment_report", outcome.status, outcome.detail, tenant_id=action.tenant_id,
                         connection_id=conn.id, action_id=action.id)
            return outcome
    with kade.db.transaction() as session:
        if result.state == RemoteShipmentState.PENDING:
            action = owned(session, action_id, owner)
            if action is None:
                return _lost(action_id)
            action.remote_reference = result.remote_reference
            _release(session, action, delay=PENDING_RECHECK, count_attempt=False)
            record_event(session, "shipment_report", "pending", f"order {order.number}: store is processing",
                         tenant_id=action.tenant_id, connection_id=connection.id, action_id=action.id)
            return Outcome("pending")
        if not finish_owned(session, action_id, owner, ActionStatus.DONE, reference=result.remote_reference):
            return _lost(action_id)
        for item in batch:
            row = session.get(Shipment, item.id)
            assert row is not None
            row.status = ShipmentStatus.REPORTED
            row.reported_at = utcnow()
            row.remote_reference = result.remote_reference
            session.add(row)
            _shipment_event(session, "shipments.confirmed", row, order)
        record_event(session, "shipment_report", "ok",
                     f"order {order.number}: {sum(li.quantity for li in request.lines)} item(s), "
                     f"{request.carrier} {request.tracking_code or ''}".strip(),
                     tenant_id=connection.tenant_id, connection_id=connection.id, action_id=action_id)
    return Outcome("done")


def _shipment_event(session: Session, type_: str, shipment: Shipment, order: Order, reason: str | None = None) -> None:
    from kade.outbound import emit

    emit(session, order.tenant_id, type_, f"order:{order.id}",
         {"shipment": {"id": shipment.id, "order_id": order.id, "order_number": order.number,
                       "carrier": shipment.carrier, "tracking_code": shipment.tracking_code,
                       "status": str(shipment.status), "reason": reason}})


def _refused_cancelled(session: Session, action: Action, connection: Connection, order: Order,
                       batch: Sequence[Shipment], exc: RejectedByStore) -> Outcome:
    """R4: the store cancelled the order — tell the warehouse now, so the parcel can be stopped."""
    _finish(session, action, ActionStatus.FAILED, error=f"{type(exc).__name__}: {exc}", kind="order_cancelled")
    for item in batch:
        row = session.get(Shipment, item.id)
        assert row is not None
        row.status = ShipmentStatus.REFUSED
        session.add(row)
        _shipment_event(session, "shipments.refused", row, order, reason=exc.message)
    notify(session, "shipment_for_cancelled_order",
           f"Order {order.number} was cancelled in {connection.name} but a shipment was made: stop the parcel "
           f"({exc.message})", dedupe_key=f"cancelled_shipment:{order.id}", tenant_id=action.tenant_id,
           connection_id=connection.id)
    record_event(session, "shipment_report", "refused", exc.message, tenant_id=action.tenant_id,
                 connection_id=connection.id, action_id=action.id)
    return Outcome("refused", exc.message)


# ---------------------------------------------------------------------------------------------
# Cancellations


def run_cancel(kade: Kade, action_id: int) -> Outcome:
    owner = new_claim()
    with kade.db.transaction() as session:
        action = claim(session, action_id, owner=owner)
        if action is None:
            return Outcome("skipped")
        connection = session.get(Connection, action.connection_id)
        # the columns a cancellation needs, not the order's stored payload
        order = session.execute(select(Order.number, Order.remote_id, Order.connection_id)
                                .where(Order.id == action.payload["order_id"])).one()
        assert connection is not None
        check_origin(order, connection.id or 0)
        if connection.status not in SENDING:
            _release(session, action, delay=kade.settings.sweep_after, count_attempt=False)
            return Outcome("waiting")
        reason = str(action.payload.get("reason", "out_of_stock"))
        tenant_id = action.tenant_id
        session.expunge(connection)
    platform = kade.pm.platform(connection.platform)
    try:
        with KeepClaimed(kade, owner):
            platform.cancel_order(kade.context(connection), CancelRequest(
                order_remote_id=order.remote_id, order_number=order.number, reason=reason))
    except Exception as exc:
        with kade.db.transaction() as session:
            action = owned(session, action_id, owner)
            if action is None:
                return _lost(action_id)
            conn = session.get(Connection, connection.id)
            assert conn is not None
            outcome = handle_failure(kade, session, action, conn, exc)
            record_event(session, "order_cancel", outcome.status, outcome.detail, tenant_id=action.tenant_id,
                         connection_id=conn.id, action_id=action.id)
            return outcome
    with kade.db.transaction() as session:
        if not finish_owned(session, action_id, owner, ActionStatus.DONE):
            return _lost(action_id)
        record_event(session, "order_cancel", "ok", f"order {order.number} cancelled in the store",
                     tenant_id=tenant_id, connection_id=connection.id, action_id=action_id)
    return Outcome("done")


def _run_webhook(kade: Kade, action_id: int) -> Outcome:
    from kade.outbound import run_delivery

    return run_delivery(kade, action_id)


def _run_alert(kade: Kade, action_id: int) -> Outcome:
    from kade.alerts import run_alert

    return run_alert(kade, action_id)


def _run_import(kade: Kade, action_id: int) -> Any:
    from kade.webhooks import run_import_request  # a webhook's import request (outbox row)

    return run_import_request(kade, action_id)


RUNNERS: dict[str, Any] = {
    ActionKind.SHIPMENT: run_shipment,
    ActionKind.CANCEL: run_cancel,
    ActionKind.WEBHOOK: _run_webhook,
    ActionKind.ALERT: _run_alert,
    ActionKind.IMPORT_ORDERS: _run_import,
}


def run_action(kade: Kade, action_id: int, *, kind: ActionKind | None = None) -> Outcome:
    """Run one action by id; stock goes through ``flush_stock``.

    The actor of each kind passes ``kind`` (the message came to that kind's queue), which saves
    looking the row up before claiming it; the older all-kinds actor leaves it out.
    """
    connection_id = None
    if kind is None:
        with kade.db.session() as session:
            action = session.get(Action, action_id)
            if action is None:
                return Outcome("gone")
            kind = action.kind
            connection_id = action.connection_id
    if kind == ActionKind.STOCK:
        from kade.stockpush import flush_stock

        assert connection_id is not None
        flushed = flush_stock(kade, connection_id)
        return Outcome(flushed.outcome, f"{flushed.pushed} pushed")
    runner = RUNNERS.get(kind)
    if runner is None:
        raise ValueError(f"no runner for action kind {kind}")
    outcome: Outcome = runner(kade, action_id)
    return outcome
