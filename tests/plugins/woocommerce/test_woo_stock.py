"""Products, stock reads and batched stock pushes."""

from __future__ import annotations

import httpx
import pytest

from kade.errors import RejectedByStore
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import WooState
from kade.types import ConnectionContext, StockPage, StockUpdate, iter_pages


def batch_requests(sim: WooState) -> list[str]:
    return [path for method, path, _, _ in sim.requests if method == "POST" and path.endswith("/batch")]


def test_batch_of_100_with_one_bad_item(sim: WooState, ctx: ConnectionContext) -> None:
    products = [sim.add_product(sku=f"P{i}", stock=0) for i in range(99)]
    updates = [StockUpdate(remote_product_id=str(p.id), quantity=i + 1) for i, p in enumerate(products)]
    updates.append(StockUpdate(remote_product_id="999999", quantity=5))

    results = plugin.push_stock(ctx, updates)

    assert results is not None and len(results) == 100
    by_id = {r.remote_product_id: r for r in results}
    assert by_id["999999"].ok is False
    assert by_id["999999"].error_kind == "woocommerce_rest_product_invalid_id"
    assert by_id["999999"].error == "Invalid ID."
    assert all(by_id[str(p.id)].ok for p in products)
    assert [p.stock_quantity for p in products] == list(range(1, 100))
    assert batch_requests(sim) == ["/wp-json/wc/v3/products/batch"]


def test_more_than_100_updates_are_split(sim: WooState, ctx: ConnectionContext) -> None:
    products = [sim.add_product(sku=f"P{i}") for i in range(150)]
    results = plugin.push_stock(ctx, [StockUpdate(remote_product_id=str(p.id), quantity=3) for p in products])
    assert results is not None and all(r.ok for r in results)
    assert len(batch_requests(sim)) == 2


def test_store_refuses_batches_above_100(sim: WooState, http: httpx.Client, key) -> None:
    body = {"update": [{"id": i, "stock_quantity": 1} for i in range(101)]}
    response = http.post("/wp-json/wc/v3/products/batch", json=body, auth=(key.consumer_key, key.consumer_secret))
    assert response.status_code == 413
    assert response.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }


def test_products_without_stock_management_get_a_clear_item_error(sim: WooState, ctx: ConnectionContext) -> None:
    managed = sim.add_product(sku="M", stock=1)
    unmanaged = sim.add_product(sku="U", manage_stock=False)
    parent = sim.add_product(sku="TEE", manage_stock=False, stock=None)
    on_parent = sim.add_variation(parent, sku="TEE-S", manage_stock="parent")
    results = plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id=str(managed.id), quantity=4),
            StockUpdate(remote_product_id=str(unmanaged.id), quantity=4),
            StockUpdate(remote_product_id=f"{parent.id}/{on_parent.id}", quantity=4),
        ],
    )
    assert results is not None
    by_id = {r.remote_product_id: r for r in results}
    assert by_id[str(managed.id)].ok and managed.stock_quantity == 4
    assert not by_id[str(unmanaged.id)].ok
    assert by_id[str(unmanaged.id)].error_kind == "stock_not_managed"
    assert "stock management is off" in (by_id[str(unmanaged.id)].error or "")
    assert unmanaged.stock_quantity is None
    assert "on the parent product" in (by_id[f"{parent.id}/{on_parent.id}"].error or "")


def test_variations_go_through_their_parent_batch(sim: WooState, ctx: ConnectionContext) -> None:
    parent = sim.add_product(sku="TEE", manage_stock=False, stock=None)
    small, large = sim.add_variation(parent, sku="TEE-S"), sim.add_variation(parent, sku="TEE-L")
    results = plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id=f"{parent.id}/{small.id}", quantity=7),
            StockUpdate(remote_product_id=f"{parent.id}/{large.id}", quantity=0),
            StockUpdate(remote_product_id="not-an-id", quantity=1),
        ],
    )
    assert results is not None
    assert [r.ok for r in results] == [True, True, False]
    assert (small.stock_quantity, large.stock_quantity) == (7, 0)
    assert large.stock_status == "outofstock"
    assert batch_requests(sim) == [f"/wp-json/wc/v3/products/{parent.id}/variations/batch"]


def test_read_products_and_read_stock_page_through_variations(sim: WooState, ctx: ConnectionContext) -> None:
    sim.generate_products(230, variable_every=10, variations=3)
    products = []
    token = None
    while True:
        page = plugin.read_products(ctx, token)
        assert page is not None
        products.extend(page.products)
        token = page.next_page_token
        if token is None:
            break
    variations = [p for p in products if "/" in p.remote_id]
    assert len(variations) == 23 * 3
    assert len(products) == 207 + 69
    assert len({p.remote_id for p in products}) == len(products)
    assert all(p.manages_stock and p.stock is not None and p.ean for p in products)
    simple = next(p for p in products if p.sku == "SKU-00001")
    assert simple.price is not None

    def fetch(token: str | None) -> StockPage:
        page = plugin.read_stock(ctx, token)
        assert page is not None
        return page

    stock = list(iter_pages(fetch))
    assert {s.remote_product_id: s.quantity for s in stock} == {p.remote_id: p.stock for p in products}


def test_unmanaged_products_import_as_such(sim: WooState, ctx: ConnectionContext) -> None:
    sim.add_product(sku="U", manage_stock=False)
    page = plugin.read_products(ctx, None)
    assert page is not None
    [product] = page.products
    assert product.manages_stock is False and product.stock is None


def test_a_vanished_parent_fails_only_its_own_items(sim: WooState, ctx: ConnectionContext) -> None:
    simple = sim.add_product(sku="MUG")
    parent = sim.add_product(sku="TEE", manage_stock=False, stock=None)
    small = sim.add_variation(parent, sku="TEE-S")
    del sim.products[parent.id]
    results = plugin.push_stock(
        ctx,
        [
            StockUpdate(remote_product_id=str(simple.id), quantity=2),
            StockUpdate(remote_product_id=f"{parent.id}/{small.id}", quantity=2),
        ],
    )
    assert results is not None
    assert [(r.ok, r.error_kind) for r in results] == [(True, None), (False, "woocommerce_rest_product_invalid_id")]


def test_product_page_token_must_be_ours(ctx: ConnectionContext) -> None:
    with pytest.raises(RejectedByStore):
        plugin.read_products(ctx, "page-two")
