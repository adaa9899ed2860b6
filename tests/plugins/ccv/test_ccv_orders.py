"""Orders: start/size paging, the creation-date filter with its lookback, rows and status ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kade.errors import RejectedByStore
from kade.mapping import MappingError
from kade.plugins.ccv import plugin
from kade.plugins.ccv.mapping import order_status, to_line
from kade.plugins.ccv.simulator.state import CcvState
from kade.types import ConnectionContext, OrderPage, OrderQuery, OrderStatus


def _all(ctx: ConnectionContext, query: OrderQuery) -> list[OrderPage]:
    pages = []
    token = None
    while True:
        page = plugin.import_orders(ctx, query.model_copy(update={"page_token": token}))
        assert page is not None
        pages.append(page)
        if page.next_page_token is None:
            return pages
        token = page.next_page_token


def test_orders_page_by_start_and_size(make_ctx, state: CcvState) -> None:
    product = state.add_product("A1", stock=50)
    made = [state.create_order([(product, 1)]) for _ in range(7)]
    pages = _all(make_ctx(settings={"page_size": 3}), OrderQuery())
    assert [len(p.orders) for p in pages] == [3, 3, 1]
    assert [o.remote_id for p in pages for o in p.orders] == [str(o.id) for o in made]
    assert [uri for _, uri in state.requests if "orderrows" not in uri] == [
        f"/api/rest/v1/orders/?start={s}&size=3&orderby=id" for s in (0, 3, 6)]


@pytest.mark.parametrize("size", [0, 251, "many"])
def test_a_page_size_ccv_does_not_take_is_a_clear_error(make_ctx, size: object) -> None:
    with pytest.raises(RejectedByStore, match="page_size"):
        plugin.import_orders(make_ctx(settings={"page_size": size}), OrderQuery())


def test_the_shop_refuses_a_size_over_250(ctx: ConnectionContext) -> None:
    from kade.plugins.ccv.client import CcvClient

    with pytest.raises(RejectedByStore, match="size"):
        CcvClient(ctx).get("orders", {"size": 251})


def test_later_imports_filter_on_creation_date_minus_the_lookback(make_ctx, state: CcvState, clock) -> None:
    product = state.add_product("A1", stock=50)
    old = state.create_order([(product, 1)])
    clock.advance(20 * 86400)
    recent = state.create_order([(product, 1)])
    since = datetime.fromtimestamp(clock.now(), UTC) - timedelta(days=1)
    [page] = _all(make_ctx(settings={"lookback_days": 7}), OrderQuery(since=since))
    assert [o.remote_id for o in page.orders] == [str(recent.id)]
    low = (since - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ").replace(":", "%3A")
    assert f"min_create_date={low}" in state.requests[0][1]
    assert str(old.id) not in {o.remote_id for o in page.orders}


def test_a_cancellation_within_the_lookback_is_seen(make_ctx, state: CcvState, clock) -> None:
    order = state.create_order([(state.add_product("A1", stock=5), 1)])
    clock.advance(3 * 86400)
    state.set_status(order, 8)
    since = datetime.fromtimestamp(clock.now(), UTC) - timedelta(minutes=5)
    [page] = _all(make_ctx(), OrderQuery(since=since))
    assert [(o.remote_id, o.status) for o in page.orders] == [(str(order.id), OrderStatus.CANCELLED)]


def test_rows_carry_product_number_and_the_combinations_sub_identifiers(ctx: ConnectionContext,
                                                                       state: CcvState) -> None:
    plain = state.add_product("PLAIN-1", ean="8712345678906", stock=5)
    shirt = state.add_product("SHIRT")
    red_m = state.add_combination(shirt, "SHIRT-RED-M", ean="8712345000019", stock=4)
    order = state.create_order([(plain, 2), (red_m, 1)])
    [page] = _all(ctx, OrderQuery())
    [remote] = page.orders
    lines = {line.sku: line for line in remote.lines}
    assert lines["PLAIN-1"].quantity == 2 and lines["PLAIN-1"].remote_product_id == f"p:{plain.id}"
    assert lines["SHIRT-RED-M"].ean == "8712345000019" and lines["SHIRT-RED-M"].remote_product_id is None
    assert remote.number == str(order.ordernumber) and remote.shipping_address.country == "NL"
    assert remote.shipping_address.house_number == "12 a"


def test_a_combination_without_sku_is_known_by_its_sub_product_number(ctx, state: CcvState) -> None:
    shirt = state.add_product("SHIRT")
    combo = state.add_combination(shirt, "", stock=4)
    state.create_order([(combo, 1)])
    [page] = _all(ctx, OrderQuery())
    assert [line.sku for line in page.orders[0].lines] == [combo.product_number]


@pytest.mark.parametrize(("status", "expected"), [(1, OrderStatus.OPEN), (4, OrderStatus.OPEN),
                                                  (5, OrderStatus.SHIPPED), (6, OrderStatus.SHIPPED),
                                                  (7, OrderStatus.SHIPPED), (8, OrderStatus.CANCELLED),
                                                  (13, OrderStatus.OPEN)])
def test_status_ids(status: int, expected: OrderStatus) -> None:
    assert order_status({"status": status}) is expected


def test_a_first_import_brings_only_open_paid_orders(make_ctx, state: CcvState) -> None:
    product = state.add_product("A1", stock=50)
    keep = state.create_order([(product, 1)])
    state.create_order([(product, 1)], status=5)
    state.create_order([(product, 1)], status=8)
    unpaid = state.create_order([(product, 1)], status=4, paid=False)
    [page] = _all(make_ctx(), OrderQuery())
    assert [o.remote_id for o in page.orders] == [str(keep.id)]
    [page] = _all(make_ctx(settings={"import_unpaid": "true"}), OrderQuery())
    assert [o.remote_id for o in page.orders] == [str(keep.id), str(unpaid.id)]


def test_rows_are_read_once_per_version_of_the_order(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A1", stock=5), 1)])
    _all(ctx, OrderQuery())
    _all(ctx, OrderQuery())
    assert sum("orderrows" in uri for _, uri in state.requests) == 1
    order.rows[0].count = 3.0  # a changed row changes the order's totals
    [page] = _all(ctx, OrderQuery())
    assert sum("orderrows" in uri for _, uri in state.requests) == 2
    assert page.orders[0].lines[0].quantity == 3


def test_rows_that_are_not_goods_are_left_out(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A1", stock=5), 1), (state.add_product("SHIP"), 1)])
    order.rows[1].product_type = "shippingcosts"
    [page] = _all(ctx, OrderQuery())
    assert [line.sku for line in page.orders[0].lines] == ["A1"]


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([float('inf'), 2.0**31, 1.5]),
                 st.integers(), st.text(max_size=3), st.none(), st.booleans()))
@settings(max_examples=200, deadline=None)
def test_a_row_count_is_a_whole_number_or_the_row_is_malformed(count: object) -> None:
    try:
        line = to_line({"id": 1, "count": count, "product_number": "A"})
    except MappingError:
        whole = isinstance(count, int | float) and not isinstance(count, bool) and count == count \
            and 0 <= count < 2**31 and count == int(count)
        assert not whole
        return
    assert line is not None
    assert isinstance(count, int | float) and line.quantity == count and line.quantity >= 0


def test_a_budget_spent_mid_page_hands_over_what_is_done(make_ctx, state: CcvState, clock) -> None:
    from kade.errors import RateLimited

    product = state.add_product("A1", stock=50)
    made = [state.create_order([(product, 1)]) for _ in range(5)]
    ctx = make_ctx(settings={"requests_per_minute_per_method": 2})
    page = plugin.import_orders(ctx, OrderQuery())
    assert page is not None and [o.remote_id for o in page.orders] == [str(o.id) for o in made[:2]]
    assert page.next_page_token is not None
    with pytest.raises(RateLimited):  # the next page starts where the budget ran out: the core waits
        plugin.import_orders(ctx, OrderQuery(page_token=page.next_page_token))
    clock.advance(61)
    rest = plugin.import_orders(ctx, OrderQuery(page_token=page.next_page_token))
    assert rest is not None and [o.remote_id for o in rest.orders] == [str(o.id) for o in made[2:4]]
