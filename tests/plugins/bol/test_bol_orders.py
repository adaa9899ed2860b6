"""Order import against the simulator: paging, FBB lines (rule R2), cancellations, quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bol_testkit import Bol, make_bol
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.plugins.bol import plugin
from kade.plugins.bol.protocol import JSON_TYPE
from kade.types import OrderPage, OrderQuery, RemoteOrder, RemoteOrderStatus


def import_all(bol: Bol, since: datetime | None = None) -> tuple[list[OrderPage], list[RemoteOrder]]:
    ctx = bol.ctx()
    pages: list[OrderPage] = []
    token: str | None = None
    while True:
        page = plugin.import_orders(ctx, OrderQuery(since=since, page_token=token))
        pages.append(page)
        token = page.next_page_token
        if token is None:
            return pages, [o for p in pages for o in p.orders]


def test_pages_of_fifty_until_a_short_page(bol: Bol) -> None:
    bol.sim.generate(120)
    pages, orders = import_all(bol)
    assert [len(p.orders) + len(p.rejected) for p in pages] == [50, 50, 20]
    assert len({o.remote_id for o in orders}) == 120
    assert bol.sim.count_requests("GET", "/retailer/orders") - bol.sim.count_requests("GET", "/retailer/orders/") == 3


def test_exactly_full_pages_end_on_the_empty_object(bol: Bol) -> None:
    bol.sim.generate(100)
    pages, orders = import_all(bol)
    assert [len(p.orders) for p in pages] == [50, 50, 0]
    assert len(orders) == 100
    # the real quirk: an empty page is {} rather than {"orders": []}
    token = bol.sim.grant("client_credentials", "retailer-client", "retailer-secret", {})[1]["access_token"]
    response = bol.http.get(
        "/retailer/orders",
        params={"page": 3, "fulfilment-method": "ALL"},
        headers={"Accept": JSON_TYPE, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json() == {}


def test_no_orders_at_all(bol: Bol) -> None:
    pages, orders = import_all(bol)
    assert len(pages) == 1 and orders == []


def test_fbb_lines_are_flagged_and_fbb_orders_need_no_detail_call(bol: Bol) -> None:
    fbr = bol.sim.add_offer("8710000000011", reference="SKU-1", fulfilment="FBR")
    fbb = bol.sim.add_offer("8710000000028", reference="SKU-2", fulfilment="FBB")
    mixed = bol.sim.add_order([(fbr, 2), (fbb, 1)])
    only_bol = bol.sim.add_order([(fbb, 3)])
    _, orders = import_all(bol)
    by_id = {o.remote_id: o for o in orders}

    lines = {line.ean: line for line in by_id[mixed.order_id].lines}
    assert lines["8710000000011"].fulfilled_by_marketplace is False
    assert lines["8710000000011"].sku == "SKU-1"
    assert lines["8710000000011"].remote_product_id == fbr.offer_id
    assert lines["8710000000028"].fulfilled_by_marketplace is True

    assert all(line.fulfilled_by_marketplace for line in by_id[only_bol.order_id].lines)
    assert bol.sim.count_requests("GET", f"/retailer/orders/{only_bol.order_id}") == 0
    assert bol.sim.count_requests("GET", f"/retailer/orders/{mixed.order_id}") == 1


def test_fbr_only_setting_lists_only_retailer_lines(bol: Bol) -> None:
    fbr = bol.sim.add_offer(fulfilment="FBR")
    fbb = bol.sim.add_offer(fulfilment="FBB")
    bol.sim.add_order([(fbb, 1)])
    bol.sim.add_order([(fbr, 1)])
    page = plugin.import_orders(bol.ctx(settings={"fulfilment_method": "FBR"}), OrderQuery())
    assert len(page.orders) == 1
    assert not page.orders[0].lines[0].fulfilled_by_marketplace


def test_cancellation_requests_and_cancelled_quantities(bol: Bol) -> None:
    offer = bol.sim.add_offer(price="10.00")
    asked = bol.sim.add_order([(offer, 1)], cancellation_request=True)
    partly = bol.sim.add_order([(offer, 1), (offer, 2)])
    bol.sim.cancel_item(partly.items[1].order_item_id)
    gone = bol.sim.add_order([(offer, 1)])
    bol.sim.cancel_item(gone.items[0].order_item_id)

    since = datetime.fromtimestamp(bol.clock.now(), UTC) - timedelta(minutes=5)
    _, orders = import_all(bol, since=since)
    by_id = {o.remote_id: o for o in orders}
    assert by_id[asked.order_id].cancellation_requested is True
    assert by_id[asked.order_id].status is RemoteOrderStatus.OPEN
    assert by_id[partly.order_id].lines[1].quantity_cancelled == 2
    assert by_id[partly.order_id].status is RemoteOrderStatus.OPEN
    assert by_id[gone.order_id].status is RemoteOrderStatus.CANCELLED
    assert by_id[gone.order_id].cancellation_requested is False


def test_open_import_skips_fully_cancelled_orders(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    gone = bol.sim.add_order([(offer, 1)])
    bol.sim.cancel_item(gone.items[0].order_item_id)
    kept = bol.sim.add_order([(offer, 1)])
    _, orders = import_all(bol)
    assert [o.remote_id for o in orders] == [kept.order_id]


def test_malformed_order_is_quarantined_and_the_rest_imported(bol: Bol) -> None:
    orders = bol.sim.generate(30)
    bad = next(o for o in orders if any(i.fulfilment == "FBR" for i in o.items))
    detail = bol.sim.order_json(bad)
    detail["orderItems"][0]["quantity"] = -1
    bad.detail_override = detail
    pages, imported = import_all(bol)
    rejected = [r for p in pages for r in p.rejected]
    assert [r.remote_id for r in rejected] == [bad.order_id]
    assert "quantity -1 is not a positive whole number" in rejected[0].reason
    assert rejected[0].raw["orderItems"][0]["quantity"] == -1  # the detail as bol sent it
    assert len(imported) == 29


def test_bad_date_is_a_specific_reason(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    order = bol.sim.add_order([(offer, 1)])
    order.detail_override = {**bol.sim.order_json(order), "orderPlacedDateTime": "yesterday"}
    page = plugin.import_orders(bol.ctx(), OrderQuery())
    assert page.orders == ()
    assert page.rejected[0].reason == "orderPlacedDateTime 'yesterday' is not an ISO 8601 date-time"


def test_changes_since_an_hour_use_the_change_interval(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    old = bol.sim.add_order([(offer, 1)])
    bol.clock.advance(3 * 3600)
    new = bol.sim.add_order([(offer, 1)])
    since = datetime.fromtimestamp(bol.clock.now(), UTC) - timedelta(minutes=10)
    _, orders = import_all(bol, since=since)
    assert [o.remote_id for o in orders] == [new.order_id]
    assert old.order_id not in {o.remote_id for o in orders}


def test_changes_since_days_ago_walk_day_by_day(bol: Bol) -> None:
    offer = bol.sim.add_offer()
    first = bol.sim.add_order([(offer, 1)])
    bol.clock.advance(2 * 86400)
    second = bol.sim.add_order([(offer, 1)])
    bol.clock.advance(86400)
    bol.sim.cancel_item(first.items[0].order_item_id)  # an old order changes today
    since = datetime.fromtimestamp(bol.clock.now(), UTC) - timedelta(days=2, hours=12)
    pages, orders = import_all(bol, since=since)
    ids = [o.remote_id for o in orders]
    assert second.order_id in ids and first.order_id in ids
    assert next(o for o in orders if o.remote_id == first.order_id).status is RemoteOrderStatus.CANCELLED
    assert len(pages) >= 3  # one page per day at least


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n_orders=st.integers(min_value=0, max_value=130),
    page_size=st.integers(min_value=50, max_value=75),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_paging_yields_every_open_order_exactly_once(n_orders: int, page_size: int, seed: int) -> None:
    bol, transport = make_bol(seed=seed, page_size=page_size, rate_limits={}, process_delay=0.0)
    try:
        bol.sim.generate(n_orders)
        _, orders = import_all(bol)
        ids = [o.remote_id for o in orders]
        assert len(ids) == len(set(ids))
        assert set(ids) == {o.order_id for o in bol.sim.orders.values() if any(i.open_quantity for i in o.items)}
    finally:
        bol.http.close()
        transport.close()
