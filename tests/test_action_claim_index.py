"""A claim reads its own connection's actions of one kind by index (migration 0009), not every
due action of every connection: after a recovery that was 60,000 index entries per claim."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from kade.db import refresh_statistics
from kade.models import ActionKind
from kade.outbox import NewAction, add_actions
from tests.support.factories import make_connection, tenant_of

INDEX = "ix_action_connection_kind_status"


@contextmanager
def _statements(kade) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements run meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append((statement, parameters))

    sa.event.listen(kade.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(kade.db.engine, "before_cursor_execute", record)


def _plans_of_action_reads(kade, run: Callable[[], object]) -> list[str]:
    """PostgreSQL's plan for every read of ``actions`` (a SELECT, or a claim's CTE) that ``run`` makes."""
    with _statements(kade) as seen:
        run()
    plans = []
    with kade.db.engine.connect() as conn:
        for statement, params in seen:
            if statement.lstrip().upper().startswith(("SELECT", "WITH")) and "FROM actions" in statement:
                plans.append("\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, params)))
    return plans


@pytest.fixture
def busy_outbox(kade):
    """Four connections, each with a history of 1,500 pushes done, 500 stock pushes and 100
    shipments due; the statistics fresh (a recovery refreshes them: ``kade.recovery``)."""
    if kade.db.dialect != "postgresql":
        pytest.skip("the plan is PostgreSQL's; SQLite has the same index but plans by its own rules")
    conns = [make_connection(kade, name=f"shop{n}") for n in range(4)]
    tenant = tenant_of(kade)
    with kade.db.transaction() as session:
        add_actions(session, [NewAction(tenant.id, c.id, ActionKind.STOCK, f"stock:{c.id}:{n}:done",
                                        {"link_id": n}) for c in conns for n in range(1500)])
        session.execute(sa.text("UPDATE actions SET status = 'done'"))
        add_actions(session, [NewAction(tenant.id, c.id, ActionKind.STOCK, f"stock:{c.id}:{link}:pending",
                                        {"link_id": link}) for c in conns for link in range(500)])
        add_actions(session, [NewAction(tenant.id, c.id, ActionKind.SHIPMENT, f"shipment:{c.id}:{n}",
                                        {"shipment_id": n}) for c in conns for n in range(100)])
        refresh_statistics(session, "actions")
    return conns


def test_a_shipment_batch_is_claimed_by_the_claim_index(kade, busy_outbox) -> None:
    from sqlmodel import select

    from kade.claims import claim_batch
    from kade.models import Action

    with kade.db.session() as session:
        first = session.exec(select(Action.id).where(Action.connection_id == busy_outbox[1].id,
                                                     Action.kind == ActionKind.SHIPMENT)
                             .order_by(Action.id).limit(1)).one()

    def claim() -> None:
        with kade.db.transaction() as session:
            assert len(claim_batch(session, ActionKind.SHIPMENT.value, first, "owner", 10)) == 10

    (plan,) = _plans_of_action_reads(kade, claim)
    assert INDEX in plan, plan


def test_the_recoverys_next_due_action_is_found_by_the_claim_index(kade, busy_outbox) -> None:
    from kade.recovery_drain import _next_due

    def look() -> None:
        assert _next_due(kade, busy_outbox[2].id, ActionKind.SHIPMENT, 0) is not None

    (plan,) = _plans_of_action_reads(kade, look)
    assert INDEX in plan, plan
