"""Re-driving a recovered backlog in rule R10's order, each connection at its own pace.

Queue priority (``KADE_QUEUE_ORDER``) favours orders over stock over shipments, but idle worker
threads serve every queue at once: a stock push could reach a store before its import fetched a
page, a shipment overtake a stock push the store's rate limit is pacing. So a connection's
stock is sent once *its* import has ended, and its shipments and cancellations once *its* stock
has gone — never waiting for a slower store's phase. Orders go first so that the stock pushed
already counts the orders placed during the outage. A phase that takes longer than ``settle``
seconds lets the next one go (a store that stays slow must not hold back the rest for ever).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select

from kade.app import Kade
from kade.jobs import Actors
from kade.models import (
    Action,
    ActionKind,
    ActionStatus,
    Connection,
    ConnectionRuntime,
    ConnectionStatus,
    Event,
    utcnow,
)

#: the kinds of action a recovery re-drives, in the order they go out (rule R10)
DRAIN_ORDER = (ActionKind.STOCK, ActionKind.SHIPMENT, ActionKind.CANCEL)
#: how often the phases are looked at
POLL = 0.05


def _imported(kade: Kade, ids: Sequence[int], started: datetime) -> set[int]:
    """Connections whose import since ``started`` has ended (imported or failed), or that are no
    longer active (a refused login puts one in ``needs_reauth``; it sends nothing until re-authorised)."""
    if not ids:
        return set()
    with kade.db.session() as session:
        ended: set[int | None] = set(session.exec(select(ConnectionRuntime.connection_id).where(
            col(ConnectionRuntime.connection_id).in_(ids), col(ConnectionRuntime.last_import_at) >= started)).all())
        ended |= set(session.exec(select(Event.connection_id).where(  # failed: no use waiting longer
            col(Event.connection_id).in_(ids), col(Event.kind) == "orders_imported", col(Event.outcome) == "failed",
            col(Event.at) >= started)).all())
        inactive = set(session.exec(select(Connection.id).where(
            col(Connection.id).in_(ids), col(Connection.status) != ConnectionStatus.ACTIVE)).all())
    return {i for i in ended | inactive if i is not None}


def _stock_busy(kade: Kade, ids: Sequence[int]) -> set[int]:
    """Connections with a stock action still pending or running."""
    if not ids:
        return set()
    with kade.db.session() as session:
        return {i for i in session.exec(select(Action.connection_id).where(
            col(Action.connection_id).in_(ids), col(Action.kind) == ActionKind.STOCK,
            col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING])).distinct()).all() if i is not None}


def _send(kade: Kade, actors: Actors, ids: Sequence[int], kinds: Sequence[ActionKind],
          dispatched: dict[str, int]) -> None:
    from kade.sweeper import dispatch

    if not ids:
        return
    with kade.db.session() as session:
        pending = session.exec(select(Action.id, Action.kind).where(
            col(Action.connection_id).in_(ids), col(Action.status) == ActionStatus.PENDING,
            col(Action.kind).in_([k.value for k in kinds]))).all()
    for kind in kinds:
        batch = [int(i) for i, k in pending if k == kind and i is not None]
        dispatched[kind.value] = dispatched.get(kind.value, 0) + dispatch(kade, actors, batch)


def drain(kade: Kade, actors: Actors, ids: Sequence[int], *, settle: float = 0.0) -> dict[str, int]:
    """Import every connection's orders, then send its stock, then its shipments and
    cancellations; with ``settle`` 0 all at once (queue priority only). Messages sent per kind."""
    started = utcnow()
    for connection_id in ids:
        actors.import_orders.send(connection_id=connection_id)
    dispatched = {kind.value: 0 for kind in DRAIN_ORDER}
    if settle <= 0:
        _send(kade, actors, ids, DRAIN_ORDER, dispatched)
        return dispatched
    importing = {i: time.monotonic() + settle for i in ids}  # connection → when its phase gives up
    stocking: dict[int, float] = {}
    while importing or stocking:
        now = time.monotonic()
        done = _imported(kade, list(importing), started)
        ready = [i for i, until in importing.items() if i in done or now > until]
        _send(kade, actors, ready, (ActionKind.STOCK,), dispatched)
        for i in ready:
            del importing[i]
            stocking[i] = now + settle
        busy = _stock_busy(kade, list(stocking))
        ready = [i for i, until in stocking.items() if i not in busy or now > until]
        _send(kade, actors, ready, (ActionKind.SHIPMENT, ActionKind.CANCEL), dispatched)
        for i in ready:
            del stocking[i]
        if importing or stocking:
            time.sleep(POLL)
    return dispatched
