"""Stock through the Sync API: batches, absolute levels, a missing product costs only itself."""

from __future__ import annotations

import json

from conftest import Shop

from kade.plugins.shopware import plugin
from kade.plugins.shopware.client import ShopwareClient
from kade.types import StockUpdate, iter_pages


def _syncs(shop: Shop) -> list[list[dict[str, object]]]:
    return [json.loads(r.content) for r in shop.transport.requests if r.url.path == "/api/_action/sync"]


def test_one_sync_request_per_batch(shop: Shop) -> None:
    products = shop.harness.seed_products(5)
    updates = [StockUpdate(remote_product_id=rid, sku=sku, quantity=n) for n, (rid, sku) in enumerate(products)]
    results = plugin.push_stock(shop.ctx(), updates)
    assert results is not None and all(r.ok for r in results)
    assert {rid: shop.harness.stock(rid) for rid, _ in products} == {rid: n for n, (rid, _) in enumerate(products)}
    [sync] = _syncs(shop)
    assert sync == [{"key": "kade-stock", "action": "upsert", "entity": "product",
                     "payload": [{"id": rid, "stock": n} for n, (rid, _) in enumerate(products)]}]


def test_a_missing_product_is_a_per_item_error_and_never_created(shop: Shop) -> None:
    [(present, sku)] = shop.harness.seed_products(1)
    gone = "f" * 32
    results = plugin.push_stock(shop.ctx(), [StockUpdate(remote_product_id=gone, quantity=3),
                                             StockUpdate(remote_product_id=present, sku=sku, quantity=4),
                                             StockUpdate(remote_product_id="SKU-1", quantity=1)])
    assert results is not None
    by_id = {r.remote_product_id: r for r in results}
    assert by_id[present].ok and shop.harness.stock(present) == 4
    assert (by_id[gone].ok, by_id[gone].error_kind) == (False, "not_found")
    assert by_id["SKU-1"].error_kind == "invalid_reference"
    assert gone not in shop.sim.products and len(shop.sim.products) == 1


def test_a_product_deleted_between_lookup_and_sync_fails_alone(shop: Shop, monkeypatch) -> None:
    products = shop.harness.seed_products(3)
    victim = products[1][0]
    original = ShopwareClient.search

    def search_then_delete(self: ShopwareClient, entity: str, criteria: dict[str, object]):  # type: ignore[no-untyped-def]
        found = original(self, entity, criteria)
        shop.sim.products.pop(victim, None)
        return found

    monkeypatch.setattr(ShopwareClient, "search", search_then_delete)
    results = plugin.push_stock(shop.ctx(), [StockUpdate(remote_product_id=rid, quantity=7) for rid, _ in products])
    assert results is not None
    assert {r.remote_product_id: r.ok for r in results} == {products[0][0]: True, victim: False, products[2][0]: True}
    assert [len(s[0]["payload"]) for s in _syncs(shop)] == [3, 2]  # refused whole, then the rest again
    assert shop.harness.stock(products[0][0]) == 7


def test_the_simulator_sync_is_one_transaction(shop: Shop) -> None:
    [(rid, _)] = shop.harness.seed_products(1)
    token = ShopwareClient(shop.ctx()).tokens.access_token()
    body = [{"action": "upsert", "entity": "product",
             "payload": [{"id": rid, "stock": 9}, {"id": "e" * 32, "stock": 1}]}]
    raw = shop.http.post("/api/_action/sync", json=body,
                         headers={"Accept": "application/json", "Authorization": f"Bearer {token}"})
    assert raw.status_code == 400
    pointers = [e["source"]["pointer"] for e in raw.json()["errors"]]
    assert pointers == ["/0/1/taxId", "/0/1/price", "/0/1/productNumber", "/0/1/name"]
    assert shop.harness.stock(rid) == 0  # nothing written


def test_read_stock_skips_variant_parents_and_pages(shop: Shop) -> None:
    parent = shop.sim.add_product("PARENT", stock=0)
    shop.sim.add_product("PARENT.1", stock=4, parent=parent)
    shop.harness.seed_products(150)
    items = list(iter_pages(lambda token: plugin.read_stock(shop.ctx(), token)))  # type: ignore[arg-type,return-value]
    assert len(items) == 151 and "PARENT" not in {i.sku for i in items}
    assert next(i for i in items if i.sku == "PARENT.1").quantity == 4


def test_read_products_marks_parents_as_not_stock_managed(shop: Shop) -> None:
    parent = shop.sim.add_product("P2", stock=0)
    shop.sim.add_product("P2.1", stock=1, parent=parent)
    page = plugin.read_products(shop.ctx(), None)
    assert page is not None
    managed = {p.sku: p.manages_stock for p in page.products}
    assert managed == {"P2": False, "P2.1": True}
