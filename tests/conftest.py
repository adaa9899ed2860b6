"""Shared fixtures: real databases (SQLite and PostgreSQL), an app object, a fake platform."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlmodel import SQLModel

from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import KadePluginManager, make_plugin_manager
from tests.support.fakeplatform import FakePlatform, FakeStore

PG_ADMIN_URL = os.environ.get("KADE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KADE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TEST_KEY = Fernet.generate_key().decode()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("KADE_LOG_FORMAT", "json")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied per test (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("tpl") / "template.sqlite3"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A private PostgreSQL database for this test session, migrated once."""
    name = f"kade_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"PostgreSQL is required at {PG_ADMIN_URL} (start it, or run .ci/run): {exc.orig}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    db.upgrade()
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def truncate_all(db: Database) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables]
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "kade.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database(f"sqlite:///{path}")
    else:
        db = Database(request.getfixturevalue("pg_database"))
        truncate_all(db)
    yield db
    db.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_key=TEST_KEY, stock_window=0.0, _env_file=None)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def fake_pm(store: FakeStore) -> KadePluginManager:
    return make_plugin_manager(load_entrypoints=False, plugins=[(FakePlatform(store), "fake")])


@pytest.fixture
def kade(settings: Settings, database: Database, fake_pm: KadePluginManager) -> Iterator[Kade]:
    app = Kade(settings, db=database, pm=fake_pm)
    yield app
    app.close()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults (a CLI test may have raised the level)."""
    import structlog

    import kade.logs

    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()
    kade.logs._configured = False
