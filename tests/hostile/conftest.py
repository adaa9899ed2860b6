"""Fixtures of the hostile-input suite: a Kade whose only platform replays prepared pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from tests.hostile.replay import ReplayPlatform, ReplayStore


@pytest.fixture
def replay_store() -> ReplayStore:
    return ReplayStore()


@pytest.fixture
def replay_kade(settings: Settings, database: Database, replay_store: ReplayStore) -> Iterator[Kade]:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(ReplayPlatform(replay_store), "replay")])
    app = Kade(settings, db=database, pm=pm)
    yield app
    app.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many hostile pages (and records) each platform was run against."""
    from tests.hostile.test_hostile_orders import CASES

    if CASES:
        terminalreporter.write_sep("-", "hostile input cases")
        for name, count in sorted(CASES.items()):
            terminalreporter.write_line(f"{name}: {count}")
