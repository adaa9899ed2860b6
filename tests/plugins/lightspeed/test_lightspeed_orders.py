"""Order import: updated_at_min, page/limit ≤ 250, identifiers, cancellation, bad records."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from kade.plugins.lightspeed import plugin as ls
from kade.types import OrderQuery, RemoteOrderStatus


def _all_pages(ctx, query: OrderQuery) -> tuple[list, list, int]:
    orders, rejected, pages, token = [], [], 0, None
    while True:
        page = ls.import_orders(ctx, OrderQuery(since=query.since, page_token=token))
        pages += 1
        orders += page.orders
        rejected += page.rejected
        if page.next_page_token is None:
            return orders, rejected, pages
        token = page.next_page_token


def test_pages_through_every_paid_open_order(make_ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="SKU-1", ean="8712345678906")
    made = [state.create_order(shop, [(variant, 1)]) for _ in range(7)]
    state.create_order(shop, [(variant, 1)], payment_status="not_paid")
    state.cancel_order(state.create_order(shop, [(variant, 1)]))
    orders, rejected, pages = _all_pages(make_ctx(settings={"page_size": 3}), OrderQuery())
    assert [o.remote_id for o in orders] == [str(o.id) for o in made]
    assert pages == 4 and rejected == []  # 9 orders, 3 full pages, an empty fourth ends it
    assert ("GET", f"/nl/orders/{made[0].id}/products.json") in state.requests


def test_unpaid_orders_come_when_asked(make_ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="SKU-1")
    state.create_order(shop, [(variant, 1)], payment_status="not_paid")
    orders, _, _ = _all_pages(make_ctx(settings={"import_unpaid": "true"}), OrderQuery())
    assert len(orders) == 1


def test_updated_at_min_brings_changes_and_cancellations(ctx, state, shop, clock) -> None:
    variant = state.add_variant(shop, sku="SKU-1")
    old = state.create_order(shop, [(variant, 1)])
    clock.advance(3600)
    since = state.now()
    clock.advance(60)
    new = state.create_order(shop, [(variant, 2)])
    orders, _, _ = _all_pages(ctx, OrderQuery(since=since))
    assert [o.remote_id for o in orders] == [str(new.id)]
    state.cancel_order(old)
    orders, _, _ = _all_pages(ctx, OrderQuery(since=since))
    assert {o.remote_id: o.status for o in orders} == {str(old.id): RemoteOrderStatus.CANCELLED,
                                                        str(new.id): RemoteOrderStatus.OPEN}


def test_lines_carry_variant_sku_ean_and_empty_identifiers_become_none(ctx, state, shop) -> None:
    full = state.add_variant(shop, sku="SKU-1", ean="8712345678906", article_code="ART-1")
    bare = state.add_variant(shop)
    coded = state.add_variant(shop, article_code="ART-2")
    order = state.create_order(shop, [(full, 2), (bare, 1), (coded, 1)])
    [remote] = ls.import_orders(ctx, OrderQuery()).orders
    lines = {line.remote_product_id: line for line in remote.lines}
    assert (lines[str(full.id)].sku, lines[str(full.id)].ean, lines[str(full.id)].quantity) == ("SKU-1",
                                                                                               "8712345678906", 2)
    assert (lines[str(bare.id)].sku, lines[str(bare.id)].ean) == (None, None)
    assert lines[str(coded.id)].sku == "ART-2"  # no SKU: the article code is the product code
    assert remote.number == order.number and remote.shipping_address.country == "NL"


def test_product_code_setting_picks_the_field(make_ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="SKU-1", article_code="ART-1")
    state.create_order(shop, [(variant, 1)])
    [remote] = ls.import_orders(make_ctx(settings={"product_code": "article_code"}), OrderQuery()).orders
    assert remote.lines[0].sku == "ART-1"


def test_line_titles_follow_the_language_segment(make_ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="SKU-1", title="Fiets")
    state.create_order(shop, [(variant, 1)])
    [nl] = ls.import_orders(make_ctx(), OrderQuery()).orders
    [en] = ls.import_orders(make_ctx(settings={"language": "en"}), OrderQuery()).orders
    assert nl.lines[0].name.startswith("Fiets") and en.lines[0].name.startswith("Fiets (en)")


@pytest.mark.parametrize("patch, reason", [
    ({"createdAt": "yesterday"}, "createdAt 'yesterday' is not an ISO 8601"),
    ({"updatedAt": "2026-03-02T12:00:00"}, "has no UTC offset"),
    ({"number": ""}, "order number is missing"),
    ({"currency": "euro"}, "not an ISO 4217"),
])
def test_a_malformed_order_costs_only_itself(ctx, state, shop, patch, reason) -> None:
    variant = state.add_variant(shop, sku="SKU-1")
    bad = state.create_order(shop, [(variant, 1)])
    good = state.create_order(shop, [(variant, 1)])
    bad.patch.update(patch)
    page = ls.import_orders(ctx, OrderQuery())
    assert [o.remote_id for o in page.orders] == [str(good.id)]
    [rejected] = page.rejected
    assert rejected.remote_id == str(bad.id) and reason in rejected.reason


def test_simulator_caps_limit_at_250(http, key) -> None:
    auth = httpx.BasicAuth(key.key, key.secret)
    assert http.get("https://api.webshopapp.com/nl/orders.json?limit=250", auth=auth).status_code == 200
    over = http.get("https://api.webshopapp.com/nl/orders.json?limit=251", auth=auth)
    assert over.status_code == 400 and "limit" in over.json()["error"]["message"]
    bad_date = http.get("https://api.webshopapp.com/nl/orders.json?updated_at_min=soon", auth=auth)
    assert bad_date.status_code == 400


def test_since_is_stepped_back_a_second(ctx, state, shop, clock) -> None:
    variant = state.add_variant(shop, sku="SKU-1")
    order = state.create_order(shop, [(variant, 1)])
    [found] = ls.import_orders(ctx, OrderQuery(since=order.updated_at)).orders
    assert found.remote_id == str(order.id)
    assert not ls.import_orders(ctx, OrderQuery(since=order.updated_at + timedelta(seconds=2))).orders


def test_two_variants_of_one_product_are_two_lines(ctx, state, shop) -> None:
    red = state.add_variant(shop, sku="SHIRT-RED", title="Shirt", variant_title="Red")
    blue = state.add_variant(shop, sku="SHIRT-BLUE", title="Shirt", variant_title="Blue", product_id=red.product_id)
    state.create_order(shop, [(red, 1), (blue, 2)])
    [remote] = ls.import_orders(ctx, OrderQuery()).orders
    assert [(li.remote_product_id, li.sku, li.quantity) for li in remote.lines] == [
        (str(red.id), "SHIRT-RED", 1), (str(blue.id), "SHIRT-BLUE", 2)]
    assert remote.lines[1].name == "Shirt - Blue"


def test_lines_are_read_once_per_version_of_an_order(ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="SKU-1")
    order = state.create_order(shop, [(variant, 1)])
    lines = f"/nl/orders/{order.id}/products.json"
    ls.import_orders(ctx, OrderQuery())
    ls.import_orders(ctx, OrderQuery())
    assert state.requests.count(("GET", lines)) == 1  # a restarted import pays only for the list
    state.clock.advance(5)
    state.cancel_order(order)  # a new version of the order
    [again] = ls.import_orders(ctx, OrderQuery(since=order.created_at)).orders
    assert again.status == RemoteOrderStatus.CANCELLED and state.requests.count(("GET", lines)) == 2


@pytest.mark.parametrize("size", ["0", "251", "many"])
def test_a_page_size_lightspeed_cannot_serve_is_a_clear_error(make_ctx, size) -> None:
    from kade.errors import RejectedByStore

    with pytest.raises(RejectedByStore, match="page_size must be"):
        ls.import_orders(make_ctx(settings={"page_size": size}), OrderQuery())
