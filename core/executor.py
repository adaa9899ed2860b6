"""Running outbox actions: claim, call the platform, record the outcome, decide the retry.

The runners live with what they do (``kade.shipment_reports``, ``kade.cancellations``,
``kade.stockpush``, ``kade.outbound``, ``kade.alerts``); this module picks one per kind.

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

from collections.abc import Callable
from typing import Any

from kade.app import Kade
from kade.batchmarks import BATCHED_KINDS
from kade.cancellations import run_cancel, run_cancels
from kade.models import Action, ActionKind
from kade.outcomes import Outcome, backoff, handle_failure
from kade.shipment_reports import run_shipment, run_shipments

__all__ = ["RUNNERS", "Outcome", "backoff", "handle_failure", "run_action", "run_actions", "run_cancel", "run_cancels",
           "run_shipment", "run_shipments"]


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


#: kinds whose actor runs due actions of one connection in batches (``KADE_ACTION_BATCH``)
BATCH_RUNNERS: dict[str, Any] = {ActionKind.CANCEL: run_cancels, ActionKind.SHIPMENT: run_shipments}
assert set(BATCH_RUNNERS) == BATCHED_KINDS, "the batched kinds' messages need their marks"


def run_action(kade: Kade, action_id: int, *, kind: ActionKind | None = None) -> Outcome:
    """Run one action by id; stock goes through ``flush_stock``.

    The actor of each kind passes ``kind`` (the message came to that kind's queue), which saves
    looking the row up before claiming it; the older all-kinds actor leaves it out.
    """
    return run_actions(kade, action_id, kind=kind, limit=1).get(action_id, Outcome("skipped"))


def run_actions(kade: Kade, action_id: int, *, kind: ActionKind | None = None, limit: int = 1,
                more: Callable[[], object] | None = None) -> dict[int, Outcome]:
    """Run ``action_id`` and, for kinds that batch, up to ``limit - 1`` more due actions of its
    connection and kind (the actors pass ``KADE_ACTION_BATCH``); outcomes by action id. A batch
    claimed full calls ``more`` once claimed, so another worker takes what is left meanwhile."""
    connection_id = None
    if kind is None:
        with kade.db.session() as session:
            action = session.get(Action, action_id)
            if action is None:
                return {action_id: Outcome("gone")}
            kind = action.kind
            connection_id = action.connection_id
    if kind == ActionKind.STOCK:
        from kade.stockpush import flush_stock

        assert connection_id is not None
        flushed = flush_stock(kade, connection_id)
        return {action_id: Outcome(flushed.outcome, f"{flushed.pushed} pushed")}
    batched = BATCH_RUNNERS.get(kind)
    if batched is not None:
        outcomes: dict[int, Outcome] = batched(kade, action_id, limit, more)
        return outcomes
    runner = RUNNERS.get(kind)
    if runner is None:
        raise ValueError(f"no runner for action kind {kind}")
    return {action_id: runner(kade, action_id)}
