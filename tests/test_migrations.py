"""Schema migrations on both databases, and the refusal to run on a stale schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from kade.db import Database, check_schema, current_revision, head_revision
from kade.errors import ConfigError


def test_upgrade_creates_every_table_and_is_idempotent(database: Database) -> None:
    database.upgrade()  # already at head: must be a no-op
    assert current_revision(database.engine) == head_revision()
    tables = set(sa.inspect(database.engine).get_table_names())
    assert {t.name for t in SQLModel.metadata.sorted_tables} <= tables
    check_schema(database.engine)


def test_schema_matches_models(database: Database) -> None:
    """The migration and the models must describe the same columns (autogenerate finds nothing)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # SQLite reports type affinity differences for custom types; columns/tables/indexes must match.
    structural = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert structural == []


def test_unmigrated_database_is_refused_with_one_line(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(ConfigError, match=r"no Kade schema yet: run `kade db upgrade`"):
        db.check()


def test_database_migrated_by_newer_kade_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'base0'"))
    with pytest.raises(ConfigError, match="newer Kade"):
        db.check()


def test_pg_url_normalised_to_psycopg3() -> None:
    from kade.config import Settings

    s = Settings(database_url="postgres://u@h/db", _env_file=None)
    assert s.resolved_database_url() == "postgresql+psycopg://u@h/db"
