"""Engines, sessions and schema migrations.

The schema is owned by Alembic (``kade db upgrade``). Kade refuses to run against a database
that is not at the newest revision, with one line saying what to run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from kade.config import Settings
from kade.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
#: ``Session.info`` keys: what waits for the commit, and who takes it then
AFTER_COMMIT = "kade.after_commit"
AFTER_COMMIT_HANDLER = "kade.after_commit_handler"
AfterCommitHandler = Callable[[list[Any]], None]
#: a pooled PostgreSQL connection idle this long is pinged before use (docs/decisions/ping-when-idle.md)
PING_AFTER_IDLE = 5.0
_IDLE_SINCE = "kade.idle_since"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings Kade relies on for each backend."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from kade.secrets import ensure_private_file

            # credentials live in this file (encrypted, but still): 0600 in a 0700 folder; SQLite
            # gives its -wal and -shm files the database file's mode
            ensure_private_file(Path(path))
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets the in-process workers read while one writes; FKs are off by default.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20, **kwargs)
    ping_when_idle(engine)
    return engine


def ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it has been idle ``PING_AFTER_IDLE`` seconds.

    ``pool_pre_ping`` pings at every checkout: a round trip per transaction, a fifth of a busy
    worker's time. A connection in steady use proved itself a moment ago; the one a database
    restart or an idle timeout killed is the one that sat. A connection that dies within the
    window fails one transaction, which invalidates the whole pool (SQLAlchemy's reaction to a
    disconnect), and what that transaction did is retried as any failed attempt is.
    """

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return  # new (it just connected) or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            # the pool drops this connection and checks out (or opens) another
            raise sa.exc.DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise ``ConfigError`` unless the database is at the newest schema revision."""
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise ConfigError(f"cannot open the database {engine.url!r}: {exc.orig}") from None
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise ConfigError("the database has no Kade schema yet: run `kade db upgrade`")
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise ConfigError(
            f"the database is at revision {current}, which this Kade version does not know "
            "(it was migrated by a newer Kade): upgrade Kade"
        )
    raise ConfigError(f"the database schema is older than this Kade ({current} < {head}): run `kade db upgrade`")


def bookkeeping(session: Session) -> None:
    """Let this transaction commit without waiting for the disk (PostgreSQL).

    Only for writes whose loss in a database crash is harmless — "message sent at" marks that
    the sweeper re-drives anyway. Claims and outcomes stay fully durable.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))


def after_commit(session: Session, item: Any) -> bool:
    """Hand ``item`` to the session's after-commit handler once this transaction commits.

    False (and nothing queued) when the session has no handler — a process without a broker
    (a CLI command in the embedded mode): then the sweeper is the one that sends.
    """
    queue: list[Any] | None = session.info.get(AFTER_COMMIT)
    if queue is None:
        return False
    queue.append(item)
    return True


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    queue: list[Any] | None = session.info.get(AFTER_COMMIT)
    if not queue or session.in_nested_transaction():  # a savepoint's release is no commit yet
        return
    items = list(queue)
    queue.clear()
    try:
        session.info[AFTER_COMMIT_HANDLER](items)
    except Exception as exc:  # committed is committed: the sweeper re-drives what was not sent
        logging.getLogger(__name__).warning("after-commit handler failed: %s: %s", type(exc).__name__, exc)


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    # A savepoint rolled back may drop an action queued inside it; sending it anyway costs one
    # message that finds no row. Only the whole transaction's rollback empties the queue.
    queue: list[Any] | None = session.info.get(AFTER_COMMIT)
    if queue and not session.in_nested_transaction():
        queue.clear()


def one_of(session: Session | sa.Connection, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN values``, as ``column = ANY(array)`` on PostgreSQL.

    A long IN list is a long query text: psycopg parses it anew on every call (its statement
    cache keeps only short texts) and SQLAlchemy compiles it again for every new length. One
    array parameter keeps the text short and constant, so hot paths pay neither.
    """
    items = list(values)
    dialect = session.dialect if isinstance(session, sa.Connection) else session.get_bind().dialect
    if dialect.name == "postgresql":
        return column == sa.any_(sa.literal(items, sa.ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(items)  # type: ignore[no-any-return]


def insert_many(session: Session, table: sa.Table, rows: list[dict[str, Any]],
                returning: tuple[str, ...] = (), skip_conflicts_on: str | None = None) -> list[Any]:
    """Insert ``rows`` (all with the same keys) in one statement; the ``returning`` columns of each
    row inserted. ``skip_conflicts_on`` names a unique column: rows clashing on it are left out.

    On PostgreSQL the rows travel as one JSON document (``json_populate_recordset``): a
    multi-row VALUES of thousands of placeholders is a query text psycopg parses anew on every
    call, and one array per column (``unnest``) had psycopg escape every element of every text
    array in Python — the orders' stored payloads above all. One ``json.dumps`` of the page and
    the server's own JSON parser cost a fraction of either.
    """
    if not rows:
        return []
    names = list(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        from sqlalchemy.dialects.sqlite import insert

        statement = insert(table)
        if skip_conflicts_on:
            statement = statement.on_conflict_do_nothing(index_elements=[skip_conflicts_on])
        if returning:
            return list(session.connection().execute(statement.returning(*(table.c[n] for n in returning)), rows))
        session.connection().execute(statement, rows)
        return []
    import datetime as dt
    import decimal
    import enum
    import json

    dialect = session.get_bind().dialect
    convert: list[Any] = []
    for name in names:
        column_type = table.c[name].type
        if isinstance(column_type, sa.TypeDecorator) and \
                type(column_type).process_bind_param is not sa.TypeDecorator.process_bind_param:
            # Kade's own rules (aware UTC; an overflow refuses the row) as a row-wise insert applies them
            convert.append(column_type)
        else:
            convert.append(None)

    def plain(value: Any) -> Any:
        if isinstance(value, enum.Enum):  # the columns hold enum values
            return value.value
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, decimal.Decimal):
            return str(value)
        raise TypeError(f"cannot insert {type(value).__name__} in bulk")

    document = json.dumps([
        {name: (kind.process_bind_param(row[name], dialect) if kind is not None else row[name])
         for name, kind in zip(names, convert, strict=True)}
        for row in rows], default=plain, allow_nan=False)
    columns = ", ".join(names)
    sql = (f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
           f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))")
    if skip_conflicts_on:
        sql += f" ON CONFLICT ({skip_conflicts_on}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
        return list(session.execute(sa.text(sql), {"rows": document}))
    session.execute(sa.text(sql), {"rows": document})
    return []


#: rows changed at once past which the change refreshes its tables' statistics: the planner's
#: idea of a table is otherwise as old as autovacuum's last pass (a first import, a first
#: catalogue link, a recovery putting thousands of failed actions back to pending)
BULK_ANALYZE = 2000


def refresh_statistics(session: Session, *tables: str) -> None:
    """ANALYZE after a bulk load, so the next look-ups are planned for the table's real size."""
    if session.get_bind().dialect.name == "postgresql":
        for table in tables:
            session.execute(sa.text(f"ANALYZE {table}"))


class Database:
    """An engine plus a session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        #: called with what a transaction queued through ``after_commit`` once it commits (the
        #: runtime sends fresh outbox actions to the broker this way); None: nothing is queued
        self.after_commit_handler: AfterCommitHandler | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url())

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        handler = self.after_commit_handler
        info = {AFTER_COMMIT: [], AFTER_COMMIT_HANDLER: handler} if handler is not None else None
        return Session(self.engine, expire_on_commit=False, info=info)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        with self.session() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        """A connection outside any transaction (autocommit), for a read that stands alone.

        A transaction costs two round trips of its own (BEGIN, COMMIT) besides its statements;
        a hot path that mostly only reads (a re-import of unchanged orders) reads this way and
        opens a transaction only when it has something to write.
        """
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def upgrade(self) -> None:
        upgrade(self.engine)

    def check(self) -> None:
        check_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()
