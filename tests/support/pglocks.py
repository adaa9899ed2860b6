"""What a PostgreSQL test watches while it interleaves transactions on threads."""

from __future__ import annotations

import sqlalchemy as sa

from kade.app import Kade


def lock_waits(kade: Kade) -> int:
    """How many sessions of the test's database wait on a lock (a row, a transaction, an
    advisory lock) right now: how a test knows a step it started is blocked where it meant."""
    with kade.db.engine.connect() as watch:
        return int(watch.execute(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar() or 0)
