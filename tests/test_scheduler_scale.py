"""The scheduler's cost per tick must not grow with the number of connections that fall due.

Why: at tens of thousands of connections one leader marks and sends every poll; a statement per
due connection (the old way) made a tick's round trips grow with the fleet (bench_scale.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from kade.app import Kade
from kade.models import ConnectionRuntime, utcnow
from kade.runstate import poll_states
from kade.scheduler import Scheduler
from kade.status import RUNNING
from tests.support.factories import make_connection
from tests.test_claims_and_scheduler import Recorder


@contextmanager
def counting(kade: Kade) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(kade.db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(kade.db.engine, "before_cursor_execute", count)


def test_a_tick_costs_the_same_statements_for_one_due_connection_as_for_forty(kade: Kade, store: Any) -> None:
    make_connection(kade, name="first")
    actors = Recorder()
    now = utcnow()
    scheduler = Scheduler(kade, actors, holder="a")
    scheduler.tick(now)  # the daily claims and the first connection's first poll and product link
    with counting(kade) as idle:
        scheduler.tick(now + timedelta(seconds=1))
    make_connection(kade, name="second")
    with counting(kade) as one:
        scheduler.tick(now + timedelta(seconds=2))
    for n in range(40):
        make_connection(kade, name=f"shop{n}")
    with counting(kade) as forty:
        scheduler.tick(now + timedelta(seconds=3))
    assert (actors.count("import_orders"), actors.count("link_products")) == (42, 42)
    assert len(one) == len(forty), "a tick's statements grew with the connections due:\n" + "\n".join(forty)
    # a new connection's run-state row (savepoint, insert, release) and the two marks
    assert len(one) - len(idle) <= 5, "marking due connections costs more than a few statements"
    # every connection due again: all polls in the same few statements, marks kept for the next tick
    with counting(kade) as again:
        scheduler.tick(now + timedelta(seconds=3 + 61))
    assert actors.count("import_orders") == 84
    assert len(again) <= len(one)
    with kade.db.session() as session:
        marks = session.exec(sa.select(ConnectionRuntime.last_poll_at)).all()  # type: ignore[call-overload]
    assert len(marks) == 42 and all(m is not None for (m,) in marks)


def test_a_tick_reads_only_the_connections_that_may_be_due(kade: Kade, store: Any) -> None:
    for n in range(5):
        make_connection(kade, name=f"shop{n}")
    slow = make_connection(kade, name="slow", settings={"order_poll_interval": "600"})
    actors = Recorder()
    now = utcnow()
    Scheduler(kade, actors, holder="a").tick(now)
    defaults = {name: p.spec.capabilities.order_poll_interval for name, p in kade.pm.platforms().items()}
    running = [s.value for s in RUNNING]
    with kade.db.session() as session:
        assert poll_states(session, running, now + timedelta(seconds=30), defaults) == []
        due = poll_states(session, running, now + timedelta(seconds=61), defaults)
        assert sorted(s.connection_id for s in due) == sorted(
            c for c in range(1, 7) if c != slow.id), "the platform's 60 s interval, not the 600 s setting"
        later = poll_states(session, running, now + timedelta(seconds=601), defaults)
        assert len(later) == 6
    Scheduler(kade, actors, holder="a").tick(now + timedelta(seconds=61))
    assert actors.count("import_orders") == 6 + 5
    Scheduler(kade, actors, holder="a").tick(now + timedelta(seconds=601))
    assert actors.count("import_orders") == 6 + 5 + 6


def test_connections_of_a_platform_no_longer_installed_are_skipped_and_said_once(
        kade: Kade, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_connection(kade, name="a")
    make_connection(kade, name="b")
    platforms = kade.pm.platforms()
    monkeypatch.setattr(kade.pm, "platforms", lambda: {k: v for k, v in platforms.items() if k != "fake"})
    actors = Recorder()
    with capture_logs() as logs:
        Scheduler(kade, actors, holder="a").tick(utcnow())
    assert actors.count("import_orders") == 0
    skipped = [e for e in logs if e["event"] == "poll_skipped"]
    assert len(skipped) == 1 and skipped[0]["connections"] == 2
