"""Pushing stock: a connection's due stock actions, claimed a platform batch at a time (rule R7).

Why a loop per connection and not a job per action: the platform takes stock in batches, and
one push per product may be in flight at a time — a slow old push must never overwrite a newer
value. Each round claims a batch in one statement, reads the values to send (the current stock,
not the one at the time of the change), calls the store once and records every item's outcome.
Per batch that is two short transactions besides the store call; the statements take arrays
on PostgreSQL, so their cost does not grow with the batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from kade.app import Kade
from kade.audit import notify, record_event
from kade.claims import KeepClaimed, new_claim, owned
from kade.db import one_of
from kade.logs import get_logger
from kade.models import Action, ActionKind, ActionStatus, Connection, Product, ProductLink, utcnow
from kade.outbox import lock_stock_slots
from kade.outcomes import backoff, handle_failure
from kade.outcomes import finish as _finish
from kade.outcomes import release as _release
from kade.status import SENDING
from kade.stock import effective_stocks, pending_key
from kade.types import StockResult, StockUpdate

log = get_logger(__name__)


@dataclass
class StockFlush:
    pushed: int = 0
    unchanged: int = 0
    rejected: int = 0
    calls: int = 0
    outcome: str = "done"


@dataclass
class _Item:
    action_id: int
    link_id: int
    value: int
    remote_sku: str | None


def _claim_stock_batch(session: Session, connection_id: int, limit: int,
                       owner: str | None = None) -> list[tuple[int, int]]:
    """Claim up to ``limit`` due stock actions of one connection; (action id, link id) pairs.

    Claimed actions leave their link's pending slot (the key gets the action id), so a change
    arriving from now on queues a new push instead of joining one already on its way. The claim
    waits for a change filling the slots to commit (the slot lock, shared), or that change could
    deadlock with this push's record.
    """
    lock_stock_slots(session, [connection_id], shared=True)
    now = utcnow()
    candidates = session.exec(
        select(Action.id, Action.payload)
        .where(Action.connection_id == connection_id, Action.kind == ActionKind.STOCK,
               Action.status == ActionStatus.PENDING, col(Action.next_attempt_at) <= now)
        .order_by(col(Action.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return []
    # One push per product in flight: a newer value waits until the older push has landed (the
    # flush holding it loops and takes it), so a slow old push can never overwrite a newer one.
    busy = {payload["link_id"] for payload in session.exec(
        select(Action.payload).where(Action.connection_id == connection_id, Action.kind == ActionKind.STOCK,
                                     Action.status == ActionStatus.RUNNING)).all()}
    chosen = [action_id for action_id, payload in candidates if payload["link_id"] not in busy and action_id]
    waiting = [action_id for action_id, payload in candidates if payload["link_id"] in busy and action_id]
    if waiting:
        # Their message is used up here; unmark them so the next sweep sends them again rather
        # than waiting a whole sweep_after for a message it believes is still in flight.
        session.execute(sa.update(Action).where(one_of(session, col(Action.id), waiting))
                        .values(enqueued_at=None).execution_options(synchronize_session=False))
    if not chosen:
        return []
    claimed = session.execute(
        sa.update(Action)
        .where(one_of(session, col(Action.id), chosen), col(Action.status) == ActionStatus.PENDING)
        .values(status=ActionStatus.RUNNING, attempts=col(Action.attempts) + 1, updated_at=now,
                claimed_by=owner or new_claim(),
                idempotency_key=sa.func.replace(col(Action.idempotency_key), ":pending",
                                                sa.literal(":") + sa.cast(col(Action.id), sa.String)))
        .returning(col(Action.id), col(Action.payload))
        .execution_options(synchronize_session=False)
    ).all()
    return sorted((action_id, payload["link_id"]) for action_id, payload in claimed)


def _prepare(session: Session, batch: list[tuple[int, int]], total: StockFlush,
             ) -> tuple[list[StockUpdate], dict[str, _Item]]:
    """What to send for a claimed batch; settles at once what needs no call (unchanged, gone)."""
    rows = session.execute(
        sa.select(col(ProductLink.id), col(ProductLink.remote_id), col(ProductLink.last_pushed_stock),
                  col(ProductLink.remote_sku), col(ProductLink.remote_ean), Product)
        .join(Product, col(Product.id) == col(ProductLink.product_id))
        .where(one_of(session, col(ProductLink.id), [link_id for _, link_id in batch]))
    ).all()
    links = {row[0]: row for row in rows}
    stocks = effective_stocks(session, [row[5] for row in rows])
    updates: list[StockUpdate] = []
    by_remote: dict[str, _Item] = {}
    gone: list[int] = []
    unchanged: list[int] = []
    for action_id, link_id in batch:
        link = links.get(link_id)
        if link is None:  # the link or its product is gone
            gone.append(action_id)
            continue
        _, remote_id, last, remote_sku, remote_ean, product = link
        value = stocks[product.id]
        if last == value or remote_id in by_remote:
            unchanged.append(action_id)
            continue
        updates.append(StockUpdate(remote_product_id=remote_id, sku=remote_sku, ean=remote_ean,
                                   quantity=value, previous_quantity=last))
        by_remote[remote_id] = _Item(action_id, link_id, value, remote_sku)
    now = utcnow()
    if gone:
        session.execute(sa.update(Action).where(one_of(session, col(Action.id), gone))
                        .values(status=ActionStatus.CANCELLED, last_error="product link removed",
                                updated_at=now, done_at=now, claimed_by=None)
                        .execution_options(synchronize_session=False))
    if unchanged:
        session.execute(sa.update(Action).where(one_of(session, col(Action.id), unchanged))
                        .values(status=ActionStatus.DONE, updated_at=now, done_at=now, claimed_by=None)
                        .execution_options(synchronize_session=False))
        total.unchanged += len(unchanged)
    return updates, by_remote


def flush_stock(kade: Kade, connection_id: int, *, more: Callable[[], object] | None = None) -> StockFlush:
    """Push every due stock action of one connection, a platform batch at a time.

    ``more`` asks for another flush of the connection (the actor sends a message). It is called
    once this flush has claimed a full batch — more may be due — so another worker thread or
    process takes the next batch while this one waits for the store: a window's worth of
    changes goes out in parallel batches instead of one after the other.
    """
    total = StockFlush()
    owner = new_claim()
    connection = kade.load_connection(connection_id)
    if connection.status not in SENDING or not connection.send_stock:
        # This message is used up: unmark the due pushes, so the sweep sends them as soon as the
        # connection may send again rather than a whole sweep age later.
        with kade.db.transaction() as session:
            session.execute(sa.update(Action).where(
                col(Action.connection_id) == connection_id, col(Action.kind) == ActionKind.STOCK,
                col(Action.status) == ActionStatus.PENDING, col(Action.enqueued_at).is_not(None))
                .values(enqueued_at=None).execution_options(synchronize_session=False))
        return StockFlush(outcome="waiting")
    platform = kade.pm.platform(connection.platform)
    size = platform.spec.capabilities.stock_batch_size
    ctx = kade.context(connection)
    while True:
        with kade.db.transaction() as session:
            batch = _claim_stock_batch(session, connection_id, size, owner)
            if not batch:
                return total
            updates, by_remote = _prepare(session, batch, total)
        if more is not None and len(batch) >= size - size // 10:
            more()  # a (nearly) full batch: more is probably due
        if not updates:
            continue
        try:
            with KeepClaimed(kade, owner):
                results = platform.push_stock(ctx, updates)
            total.calls += 1
        except Exception as exc:
            with kade.db.transaction() as session:
                total.outcome = _failed(kade, session, connection_id, owner, by_remote, exc)
            return total
        with kade.db.transaction() as session:
            _record(session, connection, owner, by_remote, results, total)


def _failed(kade: Kade, session: Session, connection_id: int, owner: str, by_remote: dict[str, _Item],
            exc: Exception) -> str:
    """The store call failed as a whole: the error's kind decides for every item (retry, reauth...)."""
    conn = session.get(Connection, connection_id)
    assert conn is not None
    outcome = None
    for item in by_remote.values():
        failed = owned(session, item.action_id, owner)
        if failed is None:
            continue
        outcome = handle_failure(kade, session, failed, conn, exc)
        _restore_pending_key(session, failed)
    record_event(session, "stock_push", outcome.status if outcome else "error", f"{exc}",
                 tenant_id=conn.tenant_id, connection_id=connection_id, data={"items": len(by_remote)})
    return outcome.status if outcome else "error"


def _record(session: Session, connection: Connection, owner: str, by_remote: dict[str, _Item],
            results: Sequence[StockResult], total: StockFlush) -> None:
    """Write each item's outcome — only for actions this flush still holds (the sweeper may have
    taken some back while the call ran; their outcome belongs to whoever holds them now)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    now = utcnow()
    answered = {r.remote_product_id: r for r in results if r.remote_product_id in by_remote}
    ok = [by_remote[rid] for rid, r in answered.items() if r.ok]
    ok_ids = {i.action_id for i in ok}
    mine: set[int] = set()
    if ok:
        mine.update(session.execute(
            sa.update(Action)
            .where(one_of(session, col(Action.id), [i.action_id for i in ok]),
                   col(Action.claimed_by) == owner, col(Action.status) == ActionStatus.RUNNING)
            .values(status=ActionStatus.DONE, updated_at=now, done_at=now, claimed_by=None)
            .returning(col(Action.id)).execution_options(synchronize_session=False)).scalars())
        pushed = [i for i in ok if i.action_id in mine]
        total.pushed += len(pushed)
        _mark_pushed(session, pushed, now, postgres)
    rest = [i.action_id for rid, i in by_remote.items() if not (rid in answered and answered[rid].ok)]
    if rest:  # refused or unanswered items: rare, one by one
        mine.update(i for i in session.exec(
            select(Action.id).where(col(Action.id).in_(rest), col(Action.claimed_by) == owner,
                                    col(Action.status) == ActionStatus.RUNNING).with_for_update()).all()
            if i is not None)
    expected = len(by_remote)
    held = sum(1 for i in by_remote.values() if i.action_id in mine)
    if held < expected:
        log.warning("claim_lost", connection_id=connection.id, actions=expected - held,
                    hint="reclaimed while the push ran; their outcome is not written")
    refused: list[str] = []
    for remote_id, item in by_remote.items():
        if item.action_id not in mine or item.action_id in ok_ids:
            continue
        action = session.get(Action, item.action_id)
        assert action is not None
        result = answered.get(remote_id)
        if result is None:  # the plugin said nothing: try again later
            _release(session, action, delay=backoff(action.attempts), error="no result from the plugin",
                     kind="transient")
            _restore_pending_key(session, action)
            continue
        _finish(session, action, ActionStatus.FAILED, error=result.error or "rejected",
                kind=result.error_kind or "rejected")
        total.rejected += 1
        refused.append(f"{item.remote_sku or remote_id}: {result.error}")
    if refused:
        # One notification per refusing call, however many of its items were refused.
        shown = "; ".join(refused[:10]) + (f"; and {len(refused) - 10} more" if len(refused) > 10 else "")
        notify(session, "stock_rejected",
               f"{connection.name}: the store refused stock for {len(refused)} item(s): {shown}",
               dedupe_key=f"stock_rejected:{connection.id}:{min(i.action_id for i in by_remote.values())}",
               tenant_id=connection.tenant_id, connection_id=connection.id)
    record_event(session, "stock_push", "ok", f"{len(by_remote)} item(s) in one call",
                 tenant_id=connection.tenant_id, connection_id=connection.id,
                 data={"items": len(by_remote), "rejected": len(refused)})


def _mark_pushed(session: Session, pushed: list[_Item], now: Any, postgres: bool) -> None:
    """Remember what each store now holds (the next change equal to it sends nothing)."""
    if not pushed:
        return
    if postgres:
        session.execute(sa.text(
            "UPDATE product_links SET last_pushed_stock = v.value, last_pushed_at = :at "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:values AS integer[])) AS v(id, value) "
            "WHERE product_links.id = v.id"),
            {"ids": [i.link_id for i in pushed], "values": [i.value for i in pushed], "at": now})
        return
    table = ProductLink.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        table.update().where(table.c.id == sa.bindparam("b_id"))
        .values(last_pushed_stock=sa.bindparam("b_value"), last_pushed_at=sa.bindparam("b_at")),
        [{"b_id": i.link_id, "b_value": i.value, "b_at": now} for i in pushed])


def _restore_pending_key(session: Session, action: Action) -> None:
    """Put a retried stock action back in its link's pending slot, or drop it if a newer one took it."""
    if action.status != ActionStatus.PENDING:
        return
    lock_stock_slots(session, [action.connection_id or 0])
    key = pending_key(action.connection_id or 0, action.payload["link_id"])
    newer = session.exec(select(Action).where(Action.idempotency_key == key)).first()
    if newer is not None and newer.id != action.id:
        # A newer push for the same product already waits; it will send the current value.
        _finish(session, action, ActionStatus.CANCELLED, error="superseded by a newer stock change")
        if newer.next_attempt_at > action.next_attempt_at:
            newer.next_attempt_at = action.next_attempt_at
            session.add(newer)
        return
    action.idempotency_key = key
    session.add(action)
