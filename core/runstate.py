"""Per-connection run state in the database: the import lock, import health, scheduler marks.

Every change is one conditional ``UPDATE`` (compare-and-set), so it is atomic on SQLite and
PostgreSQL alike without relying on row locks SQLite does not have.

The import lock coalesces: a request while an import runs only sets ``import_again``, and
the running import, before letting go, takes the flag and goes once more. A burst of webhooks
therefore costs at most one extra run, never concurrent imports of one connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from kade.audit import clear_notifications, notify, record_event
from kade.models import Connection, ConnectionRuntime, utcnow

#: consecutive failed imports of a connection that make it a health problem (and notify once)
IMPORT_FAILURE_ALERT = 3


def ensure_runtime(session: Session, connection_id: int) -> None:
    """Create the connection's run-state row if it does not exist yet (race-safe)."""
    if session.get(ConnectionRuntime, connection_id) is not None:
        return
    try:
        with session.begin_nested():
            session.add(ConnectionRuntime(connection_id=connection_id))
    except sa.exc.IntegrityError:
        pass


def _update(session: Session, connection_id: int, *where: Any, **values: Any) -> bool:
    result = session.execute(
        sa.update(ConnectionRuntime)
        .where(col(ConnectionRuntime.connection_id) == connection_id, *where)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def new_holder() -> str:
    return uuid.uuid4().hex


def acquire_import(session: Session, connection_id: int, holder: str, ttl: float) -> bool:
    """Take the connection's import lock, or leave a "run once more" for its holder.

    True: the caller imports now. False: an import is running and will run again after.
    """
    ensure_runtime(session, connection_id)
    for _ in range(5):
        now = utcnow()
        if _update(session, connection_id,
                   sa.or_(col(ConnectionRuntime.import_holder).is_(None),
                          col(ConnectionRuntime.import_lease_until) < now),
                   import_holder=holder, import_lease_until=now + timedelta(seconds=ttl), import_again=False):
            return True
        if _update(session, connection_id, col(ConnectionRuntime.import_holder).is_not(None),
                   col(ConnectionRuntime.import_lease_until) >= now, import_again=True):
            return False
        # The holder let go between our two statements: try to take it again.
    return False


def renew_import(session: Session, connection_id: int, holder: str, ttl: float) -> bool:
    """Keep the lock for another ``ttl`` seconds; False when it is no longer ours."""
    return _update(session, connection_id, col(ConnectionRuntime.import_holder) == holder,
                   import_lease_until=utcnow() + timedelta(seconds=ttl))


def finish_import(session: Session, connection_id: int, holder: str, ttl: float) -> bool:
    """Let go of the lock; True when a request came in meanwhile and the caller must run again."""
    if _update(session, connection_id, col(ConnectionRuntime.import_holder) == holder,
               col(ConnectionRuntime.import_again) == sa.false(),
               import_holder=None, import_lease_until=None):
        return False
    return _update(session, connection_id, col(ConnectionRuntime.import_holder) == holder,
                   import_again=False, import_lease_until=utcnow() + timedelta(seconds=ttl))


def release_import(session: Session, connection_id: int, holder: str) -> None:
    """Let go after a failure (a pending "again" stays for the next import to honour)."""
    _update(session, connection_id, col(ConnectionRuntime.import_holder) == holder,
            import_holder=None, import_lease_until=None)


# ------------------------------------------------------------------------------- import health


def import_failed(session: Session, connection: Connection, reason: str) -> bool:
    """Count a failed import; the ``IMPORT_FAILURE_ALERT``-th in a row notifies (once)."""
    assert connection.id is not None
    ensure_runtime(session, connection.id)
    row = session.get(ConnectionRuntime, connection.id, populate_existing=True)
    assert row is not None
    row.import_failures += 1
    row.import_failing_since = row.import_failing_since or utcnow()
    row.import_error = reason[:2000]
    session.add(row)
    record_event(session, "orders_imported", "failed", reason, tenant_id=connection.tenant_id,
                 connection_id=connection.id, data={"consecutive_failures": row.import_failures})
    if row.import_failures != IMPORT_FAILURE_ALERT:
        return False
    record_event(session, "import_failing", "alert",
                 f"{connection.name}: {row.import_failures} imports in a row failed: {reason}",
                 tenant_id=connection.tenant_id, connection_id=connection.id)
    notify(session, "import_failing",
           f"Orders of {connection.name} (connection {connection.id}) are not being imported: "
           f"{row.import_failures} attempts in a row failed. Last reason: {reason}",
           dedupe_key=f"import_failing:{connection.id}", tenant_id=connection.tenant_id,
           connection_id=connection.id)
    return True


def import_succeeded(session: Session, connection: Connection) -> None:
    """Note when the import ended; reset the failure count, and a connection that was alerting
    says it recovered."""
    assert connection.id is not None
    row = session.get(ConnectionRuntime, connection.id, populate_existing=True)
    if row is None:
        ensure_runtime(session, connection.id)
        row = session.get(ConnectionRuntime, connection.id, populate_existing=True)
        assert row is not None
    row.last_import_at = utcnow()
    if row.import_failures >= IMPORT_FAILURE_ALERT:
        clear_notifications(session, connection_id=connection.id, kind="import_failing")
        record_event(session, "import_failing", "recovered",
                     f"{connection.name}: orders import again after {row.import_failures} failures",
                     tenant_id=connection.tenant_id, connection_id=connection.id)
    row.import_failures = 0
    row.import_failing_since = None
    row.import_error = None
    session.add(row)


def failing_imports(session: Session) -> list[tuple[int, str, int, datetime | None, str]]:
    """(connection id, name, failures, since, last reason) of every connection past the alert."""
    rows = session.execute(
        sa.select(col(Connection.id), col(Connection.name), col(ConnectionRuntime.import_failures),
                  col(ConnectionRuntime.import_failing_since), col(ConnectionRuntime.import_error))
        .join(ConnectionRuntime, col(ConnectionRuntime.connection_id) == col(Connection.id))
        .where(col(ConnectionRuntime.import_failures) >= IMPORT_FAILURE_ALERT)
        .order_by(col(Connection.id))
    ).all()
    return [(cid or 0, name, failures, since, error or "") for cid, name, failures, since, error in rows]


# ------------------------------------------------------------------------------- scheduler marks

#: ids per statement when marking many connections (well under any driver's bind-parameter limit)
MARK_CHUNK = 1000


@dataclass(frozen=True)
class PollState:
    """What the scheduler needs of one running connection: no full row, no settings but one."""

    connection_id: int
    platform: str
    interval: int | None
    last_poll_at: datetime | None
    last_products_at: datetime | None
    has_runtime: bool


def poll_states(session: Session, statuses: list[str], now: datetime,
                defaults: Mapping[str, int]) -> list[PollState]:
    """The connections in ``statuses`` that may be due at ``now``, with their marks.

    The database keeps the rest: a row comes back when its poll interval (its own setting, else its
    platform's entry in ``defaults``) or a day since its product link is up, when it has no marks
    yet, or when its platform is not in ``defaults``. So a tick reads the few due rows, not the whole
    fleet; the caller still decides each one exactly.
    """
    interval = col(Connection.settings)["order_poll_interval"].as_integer()
    running = col(Connection.status).in_(statuses)
    custom = session.execute(sa.select(interval).distinct().where(running, interval.is_not(None))).scalars().all()
    last_poll = col(ConnectionRuntime.last_poll_at)
    last_products = col(ConnectionRuntime.last_products_at)
    platform = col(Connection.platform)
    maybe_due = [
        col(ConnectionRuntime.connection_id).is_(None), last_poll.is_(None), last_products.is_(None),
        last_products <= now - timedelta(days=1), platform.not_in(list(defaults)),
        *(sa.and_(interval == value, last_poll <= now - timedelta(seconds=int(value))) for value in custom),
        *(sa.and_(interval.is_(None), platform == name, last_poll <= now - timedelta(seconds=seconds))
          for name, seconds in defaults.items()),
    ]
    rows = session.execute(
        sa.select(col(Connection.id), platform, interval, last_poll, last_products,
                  col(ConnectionRuntime.connection_id))
        .outerjoin(ConnectionRuntime, col(ConnectionRuntime.connection_id) == col(Connection.id))
        .where(running, sa.or_(*maybe_due))
    ).all()
    return [PollState(cid, name, value, poll, products, runtime is not None)
            for cid, name, value, poll, products, runtime in rows]


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + MARK_CHUNK] for i in range(0, len(ids), MARK_CHUNK)]


def ensure_runtimes(session: Session, connection_ids: list[int]) -> None:
    """``ensure_runtime`` for many: one insert, or one by one when some row appeared meanwhile."""
    for chunk in _chunks(sorted(set(connection_ids))):
        try:
            with session.begin_nested():
                session.add_all([ConnectionRuntime(connection_id=cid) for cid in chunk])
        except sa.exc.IntegrityError:
            for cid in chunk:
                ensure_runtime(session, cid)


def mark_scheduled_many(session: Session, at: datetime, *, polls: list[int], products: list[int],
                        missing: Sequence[int] = ()) -> None:
    """Mark a whole tick's polls and product links at ``at``: a few statements, however many are due.

    ``missing``: connections without a run-state row yet (created first).
    """
    ensure_runtimes(session, list(missing))
    for column, ids in (("last_poll_at", polls), ("last_products_at", products)):
        for chunk in _chunks(sorted(set(ids))):
            session.execute(
                sa.update(ConnectionRuntime)
                .where(col(ConnectionRuntime.connection_id).in_(chunk))
                .values({column: at})
                .execution_options(synchronize_session=False)
            )

