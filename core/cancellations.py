"""Cancellations to the stores: a warehouse-side cancel reaches the order's origin store (R1).

The actor runs them in batches: one claim and one record for every due cancellation of a
connection (``KADE_ACTION_BATCH``), one store call each, and a failure costs only its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel import col, select

from kade.app import Kade
from kade.audit import notify, record_event, record_events
from kade.claims import KeepClaimed, finish_many, new_claim, owned
from kade.db import one_of
from kade.errors import OriginError
from kade.models import ActionKind, ActionStatus, Connection, Order
from kade.outcomes import Outcome, claim_sending, finish, handle_failure, lost
from kade.shipments import check_origin
from kade.types import CancelRequest


def run_cancel(kade: Kade, action_id: int) -> Outcome:
    """Run one cancellation (the CLI, tests); the actor runs them in batches (``run_cancels``)."""
    return run_cancels(kade, action_id, 1).get(action_id, Outcome("skipped"))


def run_cancels(kade: Kade, first_id: int, limit: int,
                more: Callable[[], object] | None = None) -> dict[int, Outcome]:
    """Run ``first_id`` and up to ``limit - 1`` more due cancellations of its connection.

    One claim and one record for the batch; each store call on its own, and a failure costs only
    its own action (recorded apart, as a single run would). Outcomes by action id.
    """
    owner = new_claim()
    outcomes: dict[int, Outcome] = {}
    calls: list[tuple[int, Any, str]] = []
    with kade.db.transaction() as session:
        claimed = claim_sending(kade, session, ActionKind.CANCEL, first_id, owner, limit)
        if isinstance(claimed, dict):
            return claimed
        actions, connection = claimed
        # the columns a cancellation needs, not the orders' stored payloads
        orders = {row.id: row for row in session.execute(
            select(Order.id, Order.number, Order.remote_id, Order.connection_id)
            .where(one_of(session, col(Order.id), [a.payload["order_id"] for a in actions]))).all()}
        for action in actions:
            order = orders.get(action.payload["order_id"])
            try:
                if order is None:
                    raise OriginError(f"order {action.payload['order_id']} no longer exists")
                check_origin(order, connection.id or 0)  # R1, again at the last moment
            except OriginError as exc:
                finish(session, action, ActionStatus.FAILED, error=str(exc), kind="origin")
                notify(session, "action_rejected", f"cancel for {connection.name} not sent: {exc}",
                       dedupe_key=f"rejected:{action.id}", tenant_id=action.tenant_id, connection_id=connection.id)
                outcomes[action.id or 0] = Outcome("rejected", str(exc))
                continue
            calls.append((action.id or 0, order, str(action.payload.get("reason", "out_of_stock"))))
        tenant_id = actions[0].tenant_id
        session.expunge(connection)
    if more is not None and len(actions) >= limit > 1:
        more()
    platform = kade.pm.platform(connection.platform)
    ctx = kade.context(connection)
    done: list[tuple[int, Any]] = []
    with KeepClaimed(kade, owner):
        for action_id, order, reason in calls:
            try:
                platform.cancel_order(ctx, CancelRequest(order_remote_id=order.remote_id, order_number=order.number,
                                                         reason=reason))
            except Exception as exc:
                outcomes[action_id] = _cancel_failed(kade, action_id, owner, connection.id or 0, exc)
                continue
            done.append((action_id, order))
    with kade.db.transaction() as session:
        finished = finish_many(session, [action_id for action_id, _ in done], owner, ActionStatus.DONE)
        record_events(session, [
            {"kind": "order_cancel", "outcome": "ok", "message": f"order {order.number} cancelled in the store",
             "tenant_id": tenant_id, "connection_id": connection.id, "action_id": action_id}
            for action_id, order in done if action_id in finished])
    for action_id, _ in done:
        outcomes[action_id] = Outcome("done") if action_id in finished else lost(action_id)
    return outcomes


def _cancel_failed(kade: Kade, action_id: int, owner: str, connection_id: int, exc: Exception) -> Outcome:
    with kade.db.transaction() as session:
        action = owned(session, action_id, owner)
        if action is None:
            return lost(action_id)
        conn = session.get(Connection, connection_id)
        assert conn is not None
        outcome = handle_failure(kade, session, action, conn, exc)
        record_event(session, "order_cancel", outcome.status, outcome.detail, tenant_id=action.tenant_id,
                     connection_id=conn.id, action_id=action.id)
        return outcome
