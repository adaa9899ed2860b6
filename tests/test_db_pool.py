"""PostgreSQL pool: a connection that sat idle is pinged before use, one in steady use is not.

Why it matters: a ping per checkout was a round trip per transaction on every worker; without
any ping, a connection a database restart killed would fail the next transaction that drew it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import kade.db as kade_db
from kade.db import Database


@pytest.fixture
def pg(pg_database: str) -> Iterator[Database]:
    db = Database(pg_database)
    yield db
    db.dispose()


def _pings(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    seen: list[object] = []
    real = db.engine.dialect.do_ping

    def counting(dbapi_conn: object) -> bool:
        seen.append(dbapi_conn)
        return real(dbapi_conn)

    monkeypatch.setattr(db.engine.dialect, "do_ping", counting)
    return seen


def _backend_pid(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_steady_use_is_not_pinged(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(pg, monkeypatch)
    for _ in range(5):
        with pg.transaction() as session:
            session.execute(sa.text("SELECT 1"))
    assert pings == []  # each checkout followed a checkin a moment ago


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(pg, monkeypatch)
    dead = _backend_pid(pg)  # the pool keeps this connection
    with Database(pg.url).engine.connect() as admin:  # what a database restart does to it
        admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
    monkeypatch.setattr(kade_db, "PING_AFTER_IDLE", 0.0)
    with pg.transaction() as session:  # no error: the ping found it dead and the pool opened another
        pid = int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
    assert len(pings) >= 1
    assert pid != dead


def test_without_the_ping_a_killed_connection_fails_one_transaction(pg: Database,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's cost, stated: within ``PING_AFTER_IDLE`` a dead connection fails once, and the
    pool is invalidated, so the next transaction works."""
    dead = _backend_pid(pg)
    with Database(pg.url).engine.connect() as admin:
        admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
    monkeypatch.setattr(kade_db, "PING_AFTER_IDLE", 3600.0)
    with pytest.raises(sa.exc.OperationalError), pg.transaction() as session:
        session.execute(sa.text("SELECT 1"))
    assert _backend_pid(pg) != dead
