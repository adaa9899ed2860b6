"""A failed bearer → OAuth 1.0a migration changes nothing, through the real core (hostile orders
are in ``tests/hostile/test_magento_hostile.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kade import outcomes
from kade.errors import UserError
from kade.ingest import import_orders
from kade.login_migration import migrate
from kade.models import ConnectionStatus
from kade.plugins.magento.harness import MagentoHarness
from kade.testing.world import World


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(outcomes, "MIN_BACKOFF", 0.02)
    harness = MagentoHarness()
    w = World(harness, tmp_path)
    yield w
    w.close()
    harness.close()


def test_a_failed_migration_keeps_the_bearer_connection_working_and_notifies(world: World) -> None:
    harness = world.harness
    assert isinstance(harness, MagentoHarness)
    method, credentials = harness.migration_target()
    with pytest.raises(UserError, match="nothing changed"):
        migrate(world.kade, world.connection_id, method, {**credentials, "access_token_secret": "f" * 32},
                actor="test")
    assert world.connection().auth_method == "bearer"
    assert "migration_failed" in world.notifications()
    [seeded] = harness.seed_orders(1)
    assert import_orders(world.kade, world.connection_id).errors == []
    assert seeded.remote_id in world.orders()
    assert world.connection().status == ConnectionStatus.ACTIVE
