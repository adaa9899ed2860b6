"""Shipment reports to the stores: a warehouse shipment reaches the order's origin store (R1),
exactly once, with tracking as the platform takes it (R8).

The actor runs them in batches: one claim and one record for every due report of a connection
(``KADE_ACTION_BATCH``), one store call each. A retried report first asks the store whether an
earlier attempt already landed (``check_shipment``), so an answer lost to a timeout or a
``kill -9`` never becomes a second report. Two reports of one order never share a batch: the
second is built from what the first one changed (whether tracking went out already).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade import outcomes as retry_policy
from kade.app import Kade
from kade.audit import notify, record_event, record_events
from kade.claims import KeepClaimed, finish_many, new_claim, owned
from kade.errors import OriginError, RejectedByStore
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    Connection,
    Order,
    OrderLine,
    OrderState,
    Shipment,
    ShipmentStatus,
    utcnow,
)
from kade.models import ShipmentLine as ShipmentLineRow
from kade.outcomes import Outcome, claim_sending, finish, handle_failure, lost, release
from kade.shipments import check_origin
from kade.types import RemoteShipmentState, ShipmentRequest, ShipmentRequestLine, ShipmentResult

#: the order columns a report needs, not the order's stored payload
_ORDER_HEAD = (col(Order.id), col(Order.tenant_id), col(Order.connection_id), col(Order.remote_id),
               col(Order.number), col(Order.status))


@dataclass
class _Report:
    """One claimed report, built and ready for its store call."""

    action_id: int
    attempts: int
    reference: str | None
    request: ShipmentRequest
    #: the shipments this report covers (more than one where the platform takes no partial ones)
    shipments: list[Shipment]
    order: Any


@dataclass
class _Batch:
    """What a claimed batch's reports are built from, read in two statements for the batch
    rather than two per report: every shipment of its orders, and their lines."""

    shipments: dict[int, Shipment]
    #: by order id, in id order
    siblings: dict[int, list[Shipment]]
    #: by shipment id
    lines: dict[int, list[tuple[ShipmentLineRow, OrderLine]]]

    @classmethod
    def load(cls, session: Session, shipment_ids: Sequence[int]) -> _Batch:
        of_orders = select(Shipment.order_id).where(col(Shipment.id).in_(shipment_ids))
        siblings: dict[int, list[Shipment]] = {}
        for shipment in session.exec(select(Shipment).where(col(Shipment.order_id).in_(of_orders))
                                     .order_by(col(Shipment.id))).all():
            siblings.setdefault(shipment.order_id, []).append(shipment)
        everyone = {s.id: s for group in siblings.values() for s in group if s.id is not None}
        lines: dict[int, list[tuple[ShipmentLineRow, OrderLine]]] = {}
        if everyone:
            for sl, ol in session.exec(
                    select(ShipmentLineRow, OrderLine)
                    .join(OrderLine, col(OrderLine.id) == col(ShipmentLineRow.order_line_id))
                    .where(col(ShipmentLineRow.shipment_id).in_(list(everyone)))
                    .order_by(col(ShipmentLineRow.id))).all():
                lines.setdefault(sl.shipment_id, []).append((sl, ol))
        wanted = set(shipment_ids)
        return cls({i: s for i, s in everyone.items() if i in wanted}, siblings, lines)


def _shipment_request(kade: Kade, shipment: Shipment, order: Any, connection: Connection,
                      loaded: _Batch) -> tuple[ShipmentRequest, list[Shipment]] | None:
    """Build the request the platform's capabilities allow, or None when it must wait (R8)."""
    caps = kade.pm.platform(connection.platform).spec.capabilities
    shipments = loaded.siblings.get(order.id, [])
    reported_before = any(s.status == ShipmentStatus.REPORTED for s in shipments if s.id != shipment.id)
    completes = order.status == OrderState.SHIPPED and shipment.id == max(s.id or 0 for s in shipments)
    batch = [shipment]
    if not caps.partial_shipments:
        if not completes:
            return None  # held: reported together with the shipment that completes the order
        batch = [s for s in shipments if s.status == ShipmentStatus.PENDING]
    qty: dict[str, tuple[OrderLine, int]] = {}
    for sl, ol in (row for s in batch for row in loaded.lines.get(s.id or 0, [])):
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
    """Run one report (the CLI, tests); the actor runs them in batches (``run_shipments``)."""
    return run_shipments(kade, action_id, 1).get(action_id, Outcome("skipped"))


def run_shipments(kade: Kade, first_id: int, limit: int,
                  more: Callable[[], object] | None = None) -> dict[int, Outcome]:
    """Report ``first_id`` and up to ``limit - 1`` more due shipments of its connection.

    Outcomes by action id. A batch claimed full, or one that gave back a second report of an
    order, calls ``more`` so another worker takes the rest meanwhile.
    """
    owner = new_claim()
    outcomes: dict[int, Outcome] = {}
    reports: list[_Report] = []
    with kade.db.transaction() as session:
        claimed = claim_sending(kade, session, ActionKind.SHIPMENT, first_id, owner, limit)
        if isinstance(claimed, dict):
            return claimed
        actions, connection = claimed
        loaded = _Batch.load(session, [a.payload["shipment_id"] for a in actions])
        shipments = loaded.shipments
        orders = {row.id: row for row in session.execute(sa.select(*_ORDER_HEAD).where(
            col(Order.id).in_({s.order_id for s in shipments.values()}))).all()}
        seen: set[int] = set()
        deferred = False
        for action in actions:
            shipment = shipments.get(action.payload["shipment_id"])
            order = orders.get(shipment.order_id) if shipment is not None else None
            if order is not None and order.id in seen:
                # built after the first report of this order has landed, by the next batch
                release(session, action, delay=0, count_attempt=False)
                outcomes[action.id or 0] = Outcome("deferred", "another report of this order is in this batch")
                deferred = True
                continue
            outcome = _prepare(session, kade, action, connection, shipment, order, reports, loaded)
            if order is not None:
                seen.add(order.id)
            if outcome is not None:
                outcomes[action.id or 0] = outcome
        session.expunge(connection)
    if more is not None and (deferred or len(actions) >= limit > 1):
        more()
    if not reports:
        return outcomes
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    landed: list[tuple[_Report, ShipmentResult]] = []
    with KeepClaimed(kade, owner):
        for report in reports:
            try:
                result: ShipmentResult | None = None
                if report.attempts > 1 or report.reference:
                    # An earlier attempt may have landed: ask before sending again.
                    result = platform.check_shipment(ctx, report.request, report.reference)
                if result is None:
                    result = platform.report_shipment(ctx, report.request)
            except Exception as exc:
                outcomes[report.action_id] = _failed(kade, report, owner, connection.id or 0, exc)
                continue
            landed.append((report, result))
    with kade.db.transaction() as session:
        outcomes.update(_record(session, connection, owner, landed))
    return outcomes


def _prepare(session: Session, kade: Kade, action: Action, connection: Connection, shipment: Shipment | None,
             order: Any, reports: list[_Report], loaded: _Batch) -> Outcome | None:
    """Add the report ``action`` makes to ``reports``; or settle it now and say how."""
    try:
        if shipment is None or order is None:
            raise OriginError(f"shipment {action.payload['shipment_id']} or its order no longer exists")
        check_origin(order, connection.id or 0)  # R1, again at the last moment
    except OriginError as exc:
        finish(session, action, ActionStatus.FAILED, error=str(exc), kind="origin")
        notify(session, "action_rejected", f"shipment for {connection.name} not sent: {exc}",
               dedupe_key=f"rejected:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
        return Outcome("rejected", str(exc))
    built = _shipment_request(kade, shipment, order, connection, loaded)
    if built is None:
        finish(session, action, ActionStatus.DONE)
        record_event(session, "shipment_held", "ok",
                     f"order {order.number}: {connection.platform} takes no partial shipments; "
                     "reported when the order ships completely",
                     tenant_id=action.tenant_id, connection_id=connection.id, action_id=action.id)
        return Outcome("held")
    request, covered = built
    reports.append(_Report(action.id or 0, action.attempts, action.remote_reference, request, covered, order))
    return None


def _failed(kade: Kade, report: _Report, owner: str, connection_id: int, exc: Exception) -> Outcome:
    """A report whose call failed, recorded on its own (a refusal of a cancelled order is R4)."""
    with kade.db.transaction() as session:
        action = owned(session, report.action_id, owner)
        if action is None:
            return lost(report.action_id)
        conn = session.get(Connection, connection_id)
        assert conn is not None
        if isinstance(exc, RejectedByStore) and exc.code == "order_cancelled":
            return _refused_cancelled(session, action, conn, report.order, report.shipments, exc)
        outcome = handle_failure(kade, session, action, conn, exc)
        record_event(session, "shipment_report", outcome.status, outcome.detail, tenant_id=action.tenant_id,
                     connection_id=conn.id, action_id=action.id)
        return outcome


_SHIPMENTS = Shipment.__table__  # type: ignore[attr-defined]
_ACTIONS = Action.__table__  # type: ignore[attr-defined]
#: Core statements run once per batch with a row of parameters each (executemany); the ORM
#: would take a list of parameters for a bulk update by primary key instead
_MARK_REPORTED = (
    sa.update(_SHIPMENTS).where(_SHIPMENTS.c.id == sa.bindparam("sid"))
    .values(status=ShipmentStatus.REPORTED.value, reported_at=sa.bindparam("at"), remote_reference=sa.bindparam("ref"))
)
_SET_REFERENCE = sa.update(_ACTIONS).where(_ACTIONS.c.id == sa.bindparam("aid")).values(
    remote_reference=sa.bindparam("ref"))


def _record(session: Session, connection: Connection, owner: str,
            landed: list[tuple[_Report, ShipmentResult]]) -> dict[int, Outcome]:
    """Write what the store answered for the batch: the finished ones in a few statements."""
    outcomes: dict[int, Outcome] = {}
    done = [(report, result) for report, result in landed if result.state != RemoteShipmentState.PENDING]
    for report, result in landed:
        if result.state != RemoteShipmentState.PENDING:
            continue
        action = owned(session, report.action_id, owner)
        if action is None:
            outcomes[report.action_id] = lost(report.action_id)
            continue
        action.remote_reference = result.remote_reference
        release(session, action, delay=retry_policy.PENDING_RECHECK, count_attempt=False)
        record_event(session, "shipment_report", "pending", f"order {report.order.number}: store is processing",
                     tenant_id=action.tenant_id, connection_id=connection.id, action_id=action.id)
        outcomes[report.action_id] = Outcome("pending")
    finished = finish_many(session, [report.action_id for report, _ in done], owner, ActionStatus.DONE)
    done = [(report, result) for report, result in done if report.action_id in finished]
    outcomes.update({report.action_id: lost(report.action_id) for report, _ in landed
                     if report.action_id not in outcomes and report.action_id not in finished})
    if not done:
        return outcomes
    references = [{"aid": report.action_id, "ref": result.remote_reference} for report, result in done
                  if result.remote_reference is not None]
    if references:
        session.connection().execute(_SET_REFERENCE, references)
    now = utcnow()
    session.connection().execute(_MARK_REPORTED, [{"sid": s.id, "at": now, "ref": result.remote_reference}
                                     for report, result in done for s in report.shipments])
    by_tenant: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for report, _ in done:
        for s in report.shipments:
            by_tenant.setdefault(report.order.tenant_id, []).append(
                _shipment_data(s, report.order, ShipmentStatus.REPORTED))
    from kade.outbound import emit_many

    for tenant_id, items in by_tenant.items():
        emit_many(session, tenant_id, "shipments.confirmed", items)
    record_events(session, [
        {"kind": "shipment_report", "outcome": "ok",
         "message": f"order {report.order.number}: {sum(li.quantity for li in report.request.lines)} item(s), "
                    f"{report.request.carrier} {report.request.tracking_code or ''}".strip(),
         "tenant_id": connection.tenant_id, "connection_id": connection.id, "action_id": report.action_id}
        for report, _ in done])
    outcomes.update({report.action_id: Outcome("done") for report, _ in done})
    return outcomes


def _shipment_data(shipment: Shipment, order: Any, status: ShipmentStatus,
                   reason: str | None = None) -> tuple[str, dict[str, Any]]:
    return f"order:{order.id}", {"shipment": {
        "id": shipment.id, "order_id": order.id, "order_number": order.number, "carrier": shipment.carrier,
        "tracking_code": shipment.tracking_code, "status": str(status), "reason": reason}}


def _refused_cancelled(session: Session, action: Action, connection: Connection, order: Any,
                       batch: Sequence[Shipment], exc: RejectedByStore) -> Outcome:
    """R4: the store cancelled the order — tell the warehouse now, so the parcel can be stopped."""
    from kade.outbound import emit_many

    finish(session, action, ActionStatus.FAILED, error=f"{type(exc).__name__}: {exc}", kind="order_cancelled")
    items = []
    for item in batch:
        row = session.get(Shipment, item.id)
        assert row is not None
        row.status = ShipmentStatus.REFUSED
        session.add(row)
        items.append(_shipment_data(row, order, ShipmentStatus.REFUSED, reason=exc.message))
    emit_many(session, order.tenant_id, "shipments.refused", items)
    notify(session, "shipment_for_cancelled_order",
           f"Order {order.number} was cancelled in {connection.name} but a shipment was made: stop the parcel "
           f"({exc.message})", dedupe_key=f"cancelled_shipment:{order.id}", tenant_id=action.tenant_id,
           connection_id=connection.id)
    record_event(session, "shipment_report", "refused", exc.message, tenant_id=action.tenant_id,
                 connection_id=connection.id, action_id=action.id)
    return Outcome("refused", exc.message)
