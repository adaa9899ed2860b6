"""The scheduler's cost per tick must not grow with the number of connections that fall due.

Why: at tens of thousands of connections one leader marks and sends every poll; a statement per
due connection (the old way) made a tick's round trips grow with the fleet (bench_scale.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kade.app import Kade
from kade.models import ConnectionRuntime, utcnow
from kade.scheduler import Scheduler
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
    assert (actors.count("import_orders"), actors.count("import_products")) == (42, 42)
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
