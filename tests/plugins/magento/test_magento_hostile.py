"""Hostile Magento records through the real plugin and core: each bad one costs only itself, and
a failed migration changes nothing.

The store renders what a broken extension or a hand-edited database gives (``MagentoState.malform``);
the plugin's mapping and the core's import checks must turn each into one quarantined order with
a reason, while the good orders on the same page import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from kade import executor
from kade.errors import UserError
from kade.ingest import import_orders
from kade.migration import migrate
from kade.models import ConnectionStatus, Quarantine
from kade.plugins.magento.harness import MagentoHarness
from kade.testing.conformance import World

#: what a broken store can put in an order, field by field
HOSTILE: dict[str, dict[str, object]] = {
    "entity_id as text": {"entity_id": "12abc"},
    "no created_at": {"created_at": ...},
    "created_at not a date": {"created_at": "yesterday"},
    "items not a list": {"items": {"0": "x"}},
    "no items": {"items": []},
    "quantity 2^31": {"items": [{"item_id": 9, "sku": "MAG-X", "qty_ordered": 2**31}]},
    "negative quantity": {"items": [{"item_id": 9, "sku": "MAG-X", "qty_ordered": -1}]},
    "NUL in the sku": {"items": [{"item_id": 9, "sku": "MAG\x00X", "qty_ordered": 1}]},
    "item without item_id": {"items": [{"sku": "MAG-X", "qty_ordered": 1}]},
    "currency not ISO": {"order_currency_code": "euro"},
    "grand total not a number": {"grand_total": "lots"},
}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setattr(executor, "MIN_BACKOFF", 0.02)
    harness = MagentoHarness()
    w = World(harness, tmp_path)
    yield w
    w.close()
    harness.close()


def test_each_hostile_order_is_quarantined_and_the_good_ones_import(world: World) -> None:
    harness = world.harness
    assert isinstance(harness, MagentoHarness)
    good = harness.seed_orders(3)
    bad: dict[str, str] = {}
    for what, patch in HOSTILE.items():
        [seeded] = harness.seed_orders(1)
        harness.sim.malform(harness.sim.orders[int(seeded.remote_id)], **patch)
        bad[seeded.remote_id] = what
    stats = import_orders(world.kade, world.connection_id)
    assert stats.errors == []
    orders = world.orders()
    assert {s.remote_id for s in good} <= set(orders)
    with world.kade.db.session() as session:
        held = {q.remote_id: q.reason for q in session.exec(select(Quarantine))}
    # an entity_id Magento never sends as text is quarantined under the id the store gave
    expected = {("12abc" if what == "entity_id as text" else rid) for rid, what in bad.items()}
    assert set(held) == expected, {bad.get(k, k): v for k, v in held.items()}
    assert all(reason.strip() for reason in held.values())
    assert not set(orders) & set(bad)


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
