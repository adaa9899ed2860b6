"""Order import: paging, date filters across store versions and time zones, cancellations,
refunds and quarantine of malformed orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.errors import RejectedByStore
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import WooState, create_app
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.types import ConnectionContext, OrderPage, OrderQuery, RemoteOrderStatus

START = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # the conftest clock's start


def import_all(ctx: ConnectionContext, since: datetime | None = None) -> list[OrderPage]:
    pages = []
    token = None
    while True:
        page = plugin.import_orders(ctx, OrderQuery(since=since, page_token=token))
        assert page is not None
        pages.append(page)
        token = page.next_page_token
        if token is None:
            return pages
        assert len(pages) < 100, "paging does not end"


def test_pages_follow_x_wp_totalpages(sim: WooState, ctx: ConnectionContext, http: httpx.Client) -> None:
    orders = sim.generate_orders(250)
    requests: list[httpx.Request] = []
    http.event_hooks["request"].append(requests.append)

    pages = import_all(ctx)

    assert [len(p.orders) for p in pages] == [100, 100, 50]
    assert [o.remote_id for p in pages for o in p.orders] == [str(o.id) for o in orders]
    listed = [r.url.params for r in requests if r.url.path == "/wp-json/wc/v3/orders"]
    assert [p["page"] for p in listed] == ["1", "2", "3"]
    assert all(p["per_page"] == "100" and p["orderby"] == "id" and p["order"] == "asc" for p in listed)
    assert all(p["status"] == "processing" for p in listed)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    statuses=st.lists(st.sampled_from(["processing", "on-hold", "pending", "completed", "cancelled"]), max_size=230),
    import_statuses=st.sampled_from(["processing", "processing,on-hold"]),
)
def test_paging_returns_every_order_exactly_once(statuses: list[str], import_statuses: str, make_context) -> None:
    clock = SimClock(start=START.timestamp())
    sim = WooState(seed=len(statuses), clock=clock)
    key = sim.create_api_key()
    orders = [
        sim.create_order([(p, 1)], status=s) for s in statuses for p in [sim.add_product(sku=f"S{len(sim.products)}")]
    ]
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        ctx = make_context(http, key, clock=clock, settings={"import_statuses": import_statuses})
        first = [o.remote_id for p in import_all(ctx) for o in p.orders]
        since = [o.remote_id for p in import_all(ctx, since=START - timedelta(days=1)) for o in p.orders]
    wanted = set(import_statuses.split(","))
    assert sorted(first, key=int) == [str(o.id) for o in orders if o.status in wanted]
    assert len(first) == len(set(first))
    # an incremental import also reports completed and cancelled orders; pending/on-hold wait
    expected = [str(o.id) for o in orders if o.status in wanted | {"completed", "cancelled"}]
    assert since == expected


def test_per_page_above_100_is_rejected(http: httpx.Client, key) -> None:
    response = http.get("/wp-json/wc/v3/orders", params={"per_page": 101}, auth=(key.consumer_key, key.consumer_secret))
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {
            "status": 400,
            "params": {"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
        },
    }


def test_modified_after_is_sent_as_gmt_and_survives_a_store_west_of_utc(clock: SimClock, make_context) -> None:
    sim = WooState(clock=clock, timezone="America/New_York")  # UTC-4 in June
    key = sim.create_api_key()
    product = sim.add_product(sku="A")
    early = sim.create_order([(product, 1)], created=START - timedelta(hours=1))  # 11:00 UTC
    late = sim.create_order([(product, 1)], created=START + timedelta(hours=1))  # 13:00 UTC
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        ctx = make_context(http, key, clock=clock)
        pages = import_all(ctx, since=START)
        got = [o for p in pages for o in p.orders]
        assert [o.remote_id for o in got] == [str(late.id)]
        # the order's times come from the *_gmt fields, as aware UTC datetimes
        assert got[0].created_at == START + timedelta(hours=1)
        assert got[0].raw["date_created"] == "2025-06-02T09:00:00"  # store-local wall time

        # the pitfall: the same filter without dates_are_gmt is read as New York time (16:00 UTC)
        auth = (key.consumer_key, key.consumer_secret)
        naive = http.get("/wp-json/wc/v3/orders", params={"modified_after": "2025-06-02T12:00:00"}, auth=auth)
        assert naive.json() == []
        del early


def test_store_older_than_5_8_ignores_modified_after_and_the_plugin_filters_itself(
    clock: SimClock, make_context
) -> None:
    sim = WooState(clock=clock, wc_version="5.6.2", timezone="Europe/Amsterdam")
    key = sim.create_api_key()
    product = sim.add_product(sku="A")
    sim.create_order([(product, 1)], created=START - timedelta(hours=3))
    late = sim.create_order([(product, 1)], created=START + timedelta(minutes=5))
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        auth = (key.consumer_key, key.consumer_secret)
        raw = http.get(
            "/wp-json/wc/v3/orders",
            params={"modified_after": "2025-06-02T12:00:00", "dates_are_gmt": "true"},
            auth=auth,
        )
        assert len(raw.json()) == 2  # the store ignored both arguments
        ctx = make_context(http, key, clock=clock)
        got = [o.remote_id for p in import_all(ctx, since=START) for o in p.orders]
    assert got == [str(late.id)]


def test_cancelled_and_completed_orders_are_reported_as_such(sim: WooState, ctx: ConnectionContext) -> None:
    product = sim.add_product(sku="A")
    cancelled = sim.create_order([(product, 2)], created=START - timedelta(hours=2))
    shipped = sim.create_order([(product, 1)], created=START - timedelta(hours=2))
    sim.set_order_status(cancelled, "cancelled")
    sim.set_order_status(shipped, "completed")
    got = {o.remote_id: o for p in import_all(ctx, since=START - timedelta(hours=1)) for o in p.orders}
    assert got[str(cancelled.id)].status is RemoteOrderStatus.CANCELLED
    assert got[str(shipped.id)].status is RemoteOrderStatus.SHIPPED


def test_refunded_lines_become_cancelled_quantities(sim: WooState, ctx: ConnectionContext) -> None:
    a, b = sim.add_product(sku="A"), sim.add_product(sku="B", price="5.00")
    order = sim.create_order([(a, 3), (b, 1)])
    sim.refund_lines(order, {order.line_items[0].id: 2})
    [page] = import_all(ctx)
    [remote] = page.orders
    assert remote.status is RemoteOrderStatus.OPEN
    first, second = remote.lines
    assert (first.sku, first.quantity, first.quantity_cancelled) == ("A", 3, 2)
    assert (second.sku, second.quantity_cancelled, second.unit_price) == ("B", 0, Decimal("5.0"))


def test_variation_lines_carry_parent_and_variation_ids(sim: WooState, ctx: ConnectionContext) -> None:
    parent = sim.add_product(sku="TEE", manage_stock=False, stock=None)
    medium = sim.add_variation(parent, sku="TEE-M")
    sim.create_order([(medium, 1)])
    [page] = import_all(ctx)
    [line] = page.orders[0].lines
    assert line.remote_product_id == f"{parent.id}/{medium.id}"
    assert line.sku == "TEE-M"


def test_malformed_orders_are_quarantined_and_the_page_imports(sim: WooState, ctx: ConnectionContext) -> None:
    orders = sim.generate_orders(6)
    sim.malform(orders[1], currency="euro")
    sim.malform(orders[2], line_items=[])
    sim.malform(orders[3], line_items=[{"id": 9, "product_id": 1, "quantity": "two", "price": 1}])
    sim.malform(orders[4], date_created_gmt=...)
    [page] = import_all(ctx)
    assert [o.remote_id for o in page.orders] == [str(orders[0].id), str(orders[5].id)]
    reasons = {r.remote_id: r.reason for r in page.rejected}
    assert "currency" in reasons[str(orders[1].id)] and "ISO 4217" in reasons[str(orders[1].id)]
    assert reasons[str(orders[2].id)] == "order has no line_items"
    assert reasons[str(orders[3].id)] == "line_items[0].quantity is not a whole number: 'two'"
    assert reasons[str(orders[4].id)] == "date_created_gmt is missing"
    assert all(r.raw for r in page.rejected)


def test_addresses_are_mapped(sim: WooState, ctx: ConnectionContext) -> None:
    order = sim.generate_orders(1)[0]
    [page] = import_all(ctx)
    remote = page.orders[0]
    assert remote.shipping_address.name == f"{order.shipping['first_name']} {order.shipping['last_name']}"
    assert remote.shipping_address.email == order.billing["email"]  # shipping has no e-mail in WooCommerce
    assert remote.shipping_address.country == "NL"
    assert remote.total == order.total
    assert remote.currency == "EUR"


def test_order_page_token_must_be_ours(ctx: ConnectionContext) -> None:
    with pytest.raises(RejectedByStore):
        plugin.import_orders(ctx, OrderQuery(page_token="{broken"))


def test_missing_total_pages_header_falls_back_to_page_size() -> None:
    from kade.plugins.woocommerce.client import total_pages as _total_pages

    assert _total_pages({"x-wp-totalpages": "4"}, 1, 100) == 4
    assert _total_pages({}, 2, 100) == 3
    assert _total_pages({}, 2, 40) == 2


def test_before_5_4_date_filters_are_store_local_even_with_dates_are_gmt(clock: SimClock) -> None:
    sim = WooState(clock=clock, wc_version="5.2.0", timezone="America/New_York")
    key = sim.create_api_key()
    product = sim.add_product(sku="A")
    order = sim.create_order([(product, 1)], created=START + timedelta(hours=1))  # 13:00 UTC = 09:00 local
    params = {"after": "2025-06-02T12:00:00", "dates_are_gmt": "true"}
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        auth = (key.consumer_key, key.consumer_secret)
        assert http.get("/wp-json/wc/v3/orders", params=params, auth=auth).json() == []
        sim.wc_version = "5.4.0"
        assert [o["id"] for o in http.get("/wp-json/wc/v3/orders", params=params, auth=auth).json()] == [order.id]
