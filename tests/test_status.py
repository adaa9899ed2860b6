"""The audited status path: every change has a row, an event, and the notifications it needs."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kade.errors import UserError
from kade.models import Connection, ConnectionStatus, ConnectionStatusChange, Event, Notification
from kade.status import change_status
from tests.support.factories import make_connection


def _history(session, conn_id):
    return session.exec(
        select(ConnectionStatusChange).where(ConnectionStatusChange.connection_id == conn_id)
        .order_by(ConnectionStatusChange.id)
    ).all()


def test_new_connection_starts_new_with_sending_off(kade) -> None:
    conn = make_connection(kade, active=False, send_stock=False, send_shipments=False)
    assert conn.status == ConnectionStatus.NEW
    assert (conn.send_stock, conn.send_shipments) == (False, False)


def test_each_change_is_audited_with_reason_and_actor(kade) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        assert change_status(session, row, ConnectionStatus.PAUSED, reason="holiday", actor="alice")
        assert not change_status(session, row, ConnectionStatus.PAUSED, reason="again", actor="alice")
    with kade.db.session() as session:
        history = _history(session, conn.id)
        assert [(h.from_status, h.to_status, h.actor, h.reason) for h in history] == [
            ("new", "active", "test", "test"),
            ("active", "paused", "alice", "holiday"),
        ]
        events = session.exec(select(Event).where(Event.kind == "connection_status")).all()
        assert [e.outcome for e in events] == ["active", "paused"]


def test_needs_reauth_notifies_once_and_clears_on_reactivation(kade) -> None:
    conn = make_connection(kade)
    with kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        change_status(session, row, ConnectionStatus.NEEDS_REAUTH, reason="401 from store", actor="worker")
    with kade.db.session() as session:
        notes = session.exec(select(Notification)).all()
        assert [(n.kind, n.cleared_at) for n in notes] == [("needs_reauth", None)]
        assert "401 from store" in notes[0].message
    with kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        change_status(session, row, ConnectionStatus.ACTIVE, reason="new credentials", actor="alice")
    with kade.db.session() as session:
        assert session.exec(select(Notification)).one().cleared_at is not None


def test_disallowed_transition_and_empty_reason_are_refused(kade) -> None:
    conn = make_connection(kade, active=False)
    with kade.db.transaction() as session:
        row = session.get(Connection, conn.id)
        with pytest.raises(ValueError, match="needs a reason"):
            change_status(session, row, ConnectionStatus.PAUSED, reason=" ", actor="x")
        change_status(session, row, ConnectionStatus.DISABLED, reason="gone", actor="x")
        with pytest.raises(UserError, match="cannot go from disabled to needs_reauth"):
            change_status(session, row, ConnectionStatus.NEEDS_REAUTH, reason="x", actor="x")


def test_status_is_assigned_only_in_the_status_module() -> None:
    """Principle 5: one audited path. Any other assignment of ``.status`` on a connection fails this."""
    import re
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "core"
    offenders = []
    for path in core.rglob("*.py"):
        if path.name == "status.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(conn|connection)\.status\s*=[^=]|\.status\s*=\s*ConnectionStatus\.", line):
                offenders.append(f"{path.name}:{n}")
    assert offenders == []
