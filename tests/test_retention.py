"""Retention: expired events and settled actions go, a batch a tick, and nothing younger with them.

Why batches: after a pause, or at fleet scale, one DELETE of every expired event is one long
transaction holding the scheduler's tick, and every poll behind it. Why settled actions only: a
failed action waits for an operator's retry, a pending or running one is still work.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

import kade.scheduler as scheduler_module
from kade.app import Kade
from kade.models import Action, ActionKind, ActionStatus, Event, Lease, Tenant, utcnow
from kade.scheduler import LEADER, Scheduler
from kade.warehouse_models import OutboundEvent, WebhookAttempt, WebhookSubscription
from tests.test_claims_and_scheduler import Recorder


def _events(kade: Kade, ages_days: list[float]) -> None:
    now = utcnow()
    with kade.db.transaction() as session:
        for n, age in enumerate(ages_days):
            session.add(Event(at=now - timedelta(days=age), kind="orders_imported", outcome="ok", message=f"e{n}"))


def _left(kade: Kade) -> list[str]:
    with kade.db.session() as session:
        return sorted(session.exec(select(Event.message)).all())


def _count(kade: Kade) -> int:
    with kade.db.session() as session:
        return int(session.exec(select(func.count()).select_from(Event)).one())


def test_expired_events_go_a_batch_a_tick_and_younger_ones_stay(kade: Kade, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "RETENTION_BATCH", 3)
    kade.settings.event_retention_days = 90
    _events(kade, [200, 120, 100, 95, 91, 90.5, 89, 10, 0])  # six expired, three kept
    scheduler = Scheduler(kade, Recorder(), holder="a")
    now = utcnow()
    remaining = []
    for second in range(4):
        scheduler._retention(now + timedelta(seconds=second))
        remaining.append(_count(kade))
    # three, then three more (a full batch: the next tick goes on), then none: an hour's rest
    assert remaining == [6, 3, 3, 3]
    assert _left(kade) == ["e6", "e7", "e8"]

    _events(kade, [91])
    scheduler._retention(now + timedelta(minutes=59))
    assert _count(kade) == 4  # not due yet
    scheduler._retention(now + timedelta(hours=1, seconds=3))
    assert _count(kade) == 3


def test_a_batch_that_is_not_full_waits_for_the_next_hour(kade: Kade, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "RETENTION_BATCH", 3)
    kade.settings.event_retention_days = 90
    _events(kade, [100, 100])
    scheduler = Scheduler(kade, Recorder(), holder="a")
    now = utcnow()
    scheduler._retention(now)
    assert _count(kade) == 0
    _events(kade, [100])
    scheduler._retention(now + timedelta(seconds=1))
    assert _count(kade) == 1


def test_expired_leases_go_and_the_leaders_stays(kade: Kade) -> None:
    now = utcnow()
    with kade.db.transaction() as session:
        session.add(Lease(name=LEADER, holder="gone", expires_at=now - timedelta(hours=1)))
        session.add(Lease(name="stock_check:2026-12-01", holder="a", expires_at=now - timedelta(hours=1)))
        session.add(Lease(name="stock_check:2026-12-07", holder="a", expires_at=now + timedelta(hours=1)))
    Scheduler(kade, Recorder(), holder="a")._retention(now)
    with kade.db.session() as session:
        names = sorted(session.exec(select(Lease.name)).all())
    assert names == [LEADER, "stock_check:2026-12-07"]


def _actions(kade: Kade, rows: list[tuple[str, ActionStatus, float]]) -> None:
    """Webhook deliveries named ``name``, settled (or not) ``age`` days ago, each with one attempt."""
    now = utcnow()
    with kade.db.transaction() as session:
        tenant = Tenant(slug="t", name="T")
        session.add(tenant)
        session.flush()
        assert tenant.id is not None
        sub = WebhookSubscription(tenant_id=tenant.id, url="https://wh.example/", events=["orders.created"],
                                  secret_encrypted="x")
        event = OutboundEvent(event_id="e1", tenant_id=tenant.id, type="orders.created", subject="order:1", data={})
        session.add(sub)
        session.add(event)
        session.flush()
        assert sub.id is not None and event.id is not None
        for name, status, age in rows:
            at = now - timedelta(days=age)
            action = Action(tenant_id=tenant.id, kind=ActionKind.WEBHOOK, idempotency_key=name, status=status,
                            payload={}, next_attempt_at=at - timedelta(minutes=1), created_at=at, updated_at=at,
                            done_at=at if status in (ActionStatus.DONE, ActionStatus.CANCELLED) else None)
            session.add(action)
            session.flush()
            assert action.id is not None
            session.add(WebhookAttempt(action_id=action.id, subscription_id=sub.id, event_id=event.id, at=at))


def _kept(kade: Kade) -> tuple[list[str], int]:
    with kade.db.session() as session:
        keys = sorted(session.exec(select(Action.idempotency_key)).all())
        attempts = int(session.exec(select(func.count()).select_from(WebhookAttempt)).one())
    return keys, attempts


def test_settled_actions_go_with_their_attempts_and_the_rest_stays(kade: Kade,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scheduler_module, "RETENTION_BATCH", 2)
    kade.settings.action_retention_days = 30
    _actions(kade, [
        ("done-old", ActionStatus.DONE, 40), ("cancelled-old", ActionStatus.CANCELLED, 31),
        ("done-older", ActionStatus.DONE, 400),
        ("failed-old", ActionStatus.FAILED, 90),  # waits for an operator's retry
        ("pending-old", ActionStatus.PENDING, 90), ("running-old", ActionStatus.RUNNING, 90),
        ("done-young", ActionStatus.DONE, 29),
    ])
    scheduler = Scheduler(kade, Recorder(), holder="a")
    now = utcnow()
    scheduler._retention(now)
    assert len(_kept(kade)[0]) == 5  # a full batch of two: the next tick goes on
    scheduler._retention(now + timedelta(seconds=1))
    keys, attempts = _kept(kade)
    assert keys == ["done-young", "failed-old", "pending-old", "running-old"]
    assert attempts == 4  # the delivery log of what was deleted went with it, and only that



def test_a_warehouse_event_goes_with_its_last_delivery(kade: Kade) -> None:
    """An event's body is what a delivery sends: kept while any delivery of it is, failed ones too."""
    old = utcnow() - timedelta(days=40)
    with kade.db.transaction() as session:
        tenant = Tenant(slug="t", name="T")
        session.add(tenant)
        session.flush()
        assert tenant.id is not None
        subs = [WebhookSubscription(tenant_id=tenant.id, url=f"https://wh{n}.example/", events=["orders.created"],
                                    secret_encrypted="x") for n in range(2)]
        events = [OutboundEvent(event_id=f"e{n}", tenant_id=tenant.id, type="orders.created", subject=f"order:{n}",
                                data={}, created_at=old) for n in range(2)]
        session.add_all([*subs, *events])
        session.flush()
        deliveries = [(events[0], subs[0], ActionStatus.DONE), (events[0], subs[1], ActionStatus.FAILED),
                      (events[1], subs[0], ActionStatus.DONE), (events[1], subs[1], ActionStatus.CANCELLED)]
        for event, sub, status in deliveries:
            key = f"webhook:{sub.id}:{event.id}"
            session.add(Action(tenant_id=tenant.id, kind=ActionKind.WEBHOOK, idempotency_key=key, status=status,
                               payload={"subscription_id": sub.id, "event_id": event.id},
                               next_attempt_at=old, created_at=old, updated_at=old))
    Scheduler(kade, Recorder(), holder="a")._retention(utcnow())
    with kade.db.session() as session:
        left = session.exec(select(OutboundEvent.event_id)).all()
        statuses = session.exec(select(Action.status)).all()
    assert statuses == [ActionStatus.FAILED]
    assert left == ["e0"]  # e1's deliveries are all gone; e0's failed one still needs its body
