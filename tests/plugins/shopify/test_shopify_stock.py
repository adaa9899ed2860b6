"""push_stock: inventorySetQuantities in batches of up to 250, per-item results, compare-and-set."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.errors import RejectedByStore
from kade.plugins.shopify import plugin
from kade.plugins.shopify import simulator as sm
from kade.types import StockUpdate


def item_id(variant):
    return sm.gid("InventoryItem", variant.inventory_item_id)


def test_a_full_batch_with_one_bad_item(sim, make_ctx):
    variants = sim.seed_catalog(249)
    elsewhere = sim.add_location("Pop-up")
    unstocked = sim.add_product("POPUP-ONLY", locations=[elsewhere])
    updates = [StockUpdate(remote_product_id=item_id(v), sku=v.sku, quantity=i % 17) for i, v in enumerate(variants)]
    updates.insert(100, StockUpdate(remote_product_id=item_id(unstocked), quantity=4))
    assert len(updates) == plugin.STOCK_BATCH
    results = plugin.push_stock(make_ctx(settings={"location_id": str(sim.primary_location.id)}), updates)
    assert [r.remote_product_id for r in results] == [u.remote_product_id for u in updates]
    bad = results[100]
    assert not bad.ok and bad.error_kind == "not_found" and "ITEM_NOT_STOCKED_AT_LOCATION" in bad.error
    assert all(r.ok for i, r in enumerate(results) if i != 100)
    assert all(sim.level(v).available == i % 17 for i, v in enumerate(variants))
    assert sim.level(unstocked, elsewhere).available == 0
    # Shopify applies a batch all or nothing: one refused call, then one call without the bad item
    assert len(sim.adjustment_groups) == 1 and sim.adjustment_groups[0]["items"] == 249
    assert {r.remote_reference for r in results if r.ok} == {sim.adjustment_groups[0]["id"]}


def test_compare_quantity_mismatch_is_a_per_item_conflict(sim, ctx):
    a, b, c = list(sim.variants.values())[:3]
    sim.level(a).available = 10
    sim.level(b).available = 7
    sim.add_order([(a, 2)])  # a sale in Shopify since our last push: available is now 8
    results = plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id=item_id(a), quantity=20, previous_quantity=10),
            StockUpdate(remote_product_id=item_id(b), quantity=5, previous_quantity=7),
            StockUpdate(remote_product_id=item_id(c), quantity=3),
        ],
    )
    assert [r.ok for r in results] == [False, True, True]
    assert results[0].error_kind == "conflict" and "COMPARE_QUANTITY_STALE" in results[0].error
    assert (sim.level(a).available, sim.level(b).available, sim.level(c).available) == (8, 5, 3)


def test_batches_over_250_and_malformed_ids(sim, ctx):
    variant = next(iter(sim.variants.values()))
    with pytest.raises(RejectedByStore) as err:
        plugin.push_stock(ctx, [StockUpdate(remote_product_id=item_id(variant), quantity=1)] * 251)
    assert err.value.code == "batch_too_large"
    results = plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id="SKU-1", quantity=1),
            StockUpdate(remote_product_id=item_id(variant), quantity=6),
        ],
    )
    assert not results[0].ok and results[0].error_kind == "rejected" and "InventoryItem" in results[0].error
    assert results[1].ok and sim.level(variant).available == 6
    assert plugin.push_stock(ctx, []) == []


def test_unknown_items_are_not_found(sim, ctx):
    (result,) = plugin.push_stock(ctx, [StockUpdate(remote_product_id="gid://shopify/InventoryItem/9", quantity=1)])
    assert not result.ok and result.error_kind == "not_found"
    assert sim.adjustment_groups == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(
        st.tuples(st.booleans(), st.integers(0, 500), st.sampled_from(["plain", "fresh", "stale"])),
        min_size=1,
        max_size=40,
    ),
)
def test_every_update_gets_exactly_its_own_result(sim, ctx, plan):
    """Whatever mix of good, unknown, fresh-CAS and stale-CAS items: one result per update, ok exactly
    for the valid ones, and the shop holds the pushed quantity exactly for those."""
    catalog = sim.seed_catalog(len(plan))
    updates, expect_ok = [], []
    for (valid, quantity, mode), variant in zip(plan, catalog, strict=True):
        current = sim.level(variant).available
        previous = {"plain": None, "fresh": current, "stale": current + 1}[mode]
        rid = item_id(variant) if valid else f"gid://shopify/InventoryItem/{9_000_000 + variant.id}"
        updates.append(StockUpdate(remote_product_id=rid, quantity=quantity, previous_quantity=previous))
        expect_ok.append(valid and mode != "stale")
    before = {v.id: sim.level(v).available for v in catalog}
    results = plugin.push_stock(ctx, updates)
    assert [r.remote_product_id for r in results] == [u.remote_product_id for u in updates]
    assert [r.ok for r in results] == expect_ok
    for ok, update, variant in zip(expect_ok, updates, catalog, strict=True):
        assert sim.level(variant).available == (update.quantity if ok else before[variant.id])
