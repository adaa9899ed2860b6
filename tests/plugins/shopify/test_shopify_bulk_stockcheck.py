"""The core's nightly check over the bulk read: hostile lines in the export cost their own item,
never the night's check (the real core, the real plugin, the simulator in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kade.catalog import link_store_products
from kade.plugins.shopify import simulator as sm
from kade.plugins.shopify.harness import ShopifyHarness
from kade.stockcheck import full_stock_check
from kade.testing.world import World


@pytest.fixture
def world(tmp_path: Path) -> Any:
    w = World(ShopifyHarness(), tmp_path)
    yield w
    w.close()


def test_hostile_export_lines_do_not_stop_the_check(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    harness: Any = world.harness
    products = harness.seed_products(30)
    assert link_store_products(world.kade, world.connection_id).linked == 30
    linked = [rid for rid, _ in products]
    harness.set_store_stock(linked[3], 7)  # the one real drift
    parent = sm.gid("Location", harness.sim.primary_location.id)
    level = '{"__parentId": "PARENT", "item": {"id": "ITEM"}, "quantities": [{"name": "available", "quantity": Q}]}'
    hostile = [
        level.replace("PARENT", parent).replace("ITEM", linked[5]).replace("Q", value)
        for value in ("100000000000000000000000000000", '"12"', "true", "1e400")
    ]
    nul_id = level.replace("PARENT", parent).replace("ITEM", "gid://shopify/InventoryItem/1\\u0000").replace("Q", "1")
    hostile += ["{broken", nul_id]
    real = harness.sim.start_bulk_operation
    monkeypatch.setattr(harness.sim, "start_bulk_operation",
                        lambda app, query, lines: real(app, query, lambda: iter([*lines(), *hostile])))
    stats = full_stock_check(world.kade, world.connection_id)
    assert stats.seen == 30 and stats.drifted == 1 and stats.unlinked == 0
    world.drain()
    assert harness.stock(linked[3]) == 0  # corrected back to the warehouse's figure
