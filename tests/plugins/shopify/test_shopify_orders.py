"""import_orders / read_products / read_stock against the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kade.errors import RejectedByStore
from kade.plugins.shopify import plugin
from kade.plugins.shopify import simulator as sm
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext, OrderQuery, RemoteOrderStatus


def import_all(ctx, query=None):
    page = plugin.import_orders(ctx, query or OrderQuery())
    pages = [page]
    while page.next_page_token:
        page = plugin.import_orders(
            ctx, OrderQuery(since=(query or OrderQuery()).since, page_token=page.next_page_token)
        )
        pages.append(page)
    return pages


def test_order_fields_are_mapped(sim, ctx):
    variants = list(sim.variants.values())
    order = sim.add_order([(variants[0], 2), (variants[1], 1)], currency="USD")
    (page,) = import_all(ctx)
    (remote,) = page.orders
    assert remote.remote_id == f"gid://shopify/Order/{order.id}"
    assert remote.number == order.name
    assert remote.status is RemoteOrderStatus.OPEN
    assert remote.currency == "USD"
    assert remote.total == variants[0].price * 2 + variants[1].price
    assert remote.created_at == datetime.fromtimestamp(order.created_at, UTC)
    assert remote.shipping_address.city == order.shipping["city"]
    assert remote.shipping_address.country == "NL"
    assert remote.billing_address.email == "customer@example.com"
    first = remote.lines[0]
    assert first.sku == variants[0].sku and first.ean == variants[0].barcode
    assert first.quantity == 2 and first.quantity_cancelled == 0 and first.quantity_shipped == 0
    assert first.unit_price == variants[0].price
    assert first.remote_product_id == f"gid://shopify/InventoryItem/{variants[0].inventory_item_id}"


def test_paging_returns_every_order_once(sim, make_ctx):
    sim.generate_orders(23)
    pages = import_all(make_ctx(settings={"order_page_size": 5}))
    assert len(pages) == 5
    ids = [o.remote_id for p in pages for o in p.orders]
    assert sorted(ids) == sorted(sm.gid("Order", o.id) for o in sim.orders.values())
    assert len(set(ids)) == len(ids)


def test_first_import_takes_open_orders_and_since_takes_changes(sim, ctx, clock):
    variant = next(iter(sim.variants.values()))
    cancelled = sim.add_order([(variant, 1)])
    sim.cancel_order(cancelled)
    open_order = sim.add_order([(variant, 1)])
    assert [o.remote_id for p in import_all(ctx) for o in p.orders] == [sm.gid("Order", open_order.id)]
    clock.advance(600)
    mark = datetime.fromtimestamp(clock.now(), UTC)
    clock.advance(600)
    changed = sim.add_order([(variant, 3)])
    since = [o.remote_id for p in import_all(ctx, OrderQuery(since=mark)) for o in p.orders]
    assert since == [sm.gid("Order", changed.id)]


def test_cancelled_orders_and_quantities(sim, ctx, clock):
    variants = list(sim.variants.values())
    order = sim.add_order([(variants[0], 3), (variants[1], 2)])
    clock.advance(60)
    sim.cancel_order(order, reason="CUSTOMER")
    (remote,) = plugin.import_orders(ctx, OrderQuery(since=datetime.fromtimestamp(clock.now() - 1, UTC))).orders
    assert remote.status is RemoteOrderStatus.CANCELLED
    assert [(li.quantity, li.quantity_cancelled, li.quantity_shipped) for li in remote.lines] == [(3, 3, 0), (2, 2, 0)]


def test_partial_store_side_cancellation_shows_as_cancelled_quantity(sim, ctx):
    variants = list(sim.variants.values())
    order = sim.add_order([(variants[0], 3), (variants[1], 2)])
    sim.remove_quantity(order, order.lines[0], 2)
    (remote,) = plugin.import_orders(ctx, OrderQuery()).orders
    assert remote.status is RemoteOrderStatus.OPEN
    assert (remote.lines[0].quantity, remote.lines[0].quantity_cancelled) == (3, 2)
    assert remote.lines[1].quantity_cancelled == 0


def test_fully_fulfilled_order_is_shipped(sim, ctx):
    order = sim.add_order([(next(iter(sim.variants.values())), 1)])
    order.lines[0].fulfilled = 1
    (remote,) = plugin.import_orders(ctx, OrderQuery(since=datetime(2025, 1, 1, tzinfo=UTC))).orders
    assert remote.status is RemoteOrderStatus.SHIPPED
    assert remote.lines[0].quantity_shipped == 1


def test_malformed_orders_are_rejected_with_a_reason_and_the_rest_imports(sim, ctx):
    variant = next(iter(sim.variants.values()))
    good = sim.add_order([(variant, 1)])
    bad_total = sim.add_order([(variant, 1)])
    bad_total.total_override = "twelve"
    empty = sim.add_order([])
    after = sim.add_order([(variant, 2)])
    page = plugin.import_orders(ctx, OrderQuery())
    assert [o.remote_id for o in page.orders] == [sm.gid("Order", good.id), sm.gid("Order", after.id)]
    reasons = {r.remote_id: r.reason for r in page.rejected}
    assert reasons == {
        sm.gid("Order", bad_total.id): "order total 'twelve' is not a decimal number",
        sm.gid("Order", empty.id): "order has no line items",
    }
    assert page.rejected[0].raw["name"] == bad_total.name


def test_orders_with_many_lines_are_completed(sim, ctx):
    sim.seed_catalog(30)
    variants = sorted(sim.variants.values(), key=lambda v: v.id)[:25]
    order = sim.add_order([(v, 1) for v in variants])
    (remote,) = plugin.import_orders(ctx, OrderQuery()).orders
    assert [li.remote_line_id for li in remote.lines] == [sm.gid("LineItem", li.id) for li in order.lines]


def test_a_page_token_from_elsewhere_is_refused(ctx):
    with pytest.raises(RejectedByStore) as err:
        plugin.import_orders(ctx, OrderQuery(page_token="!!not-ours"))
    assert err.value.code == "bad_page_token"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(0, 30), page_size=st.integers(1, 12), seed=st.integers(0, 1000))
def test_paging_invariant(count, page_size, seed):
    """Any number of orders, any page size: every order arrives exactly once, in update order."""
    clock = SimClock(start=datetime(2025, 3, 1, tzinfo=UTC).timestamp())
    state = sm.SimState(seed=seed, clock=clock, bucket_size=100_000, restore_rate=100_000)
    for _ in range(count):
        state.generate_orders(1)
        clock.advance(state.rng.choice([0, 0, 1, 30]))
    transport = SyncASGITransport(sm.create_app(state))
    with httpx.Client(transport=transport, base_url="https://shop.myshopify.com") as http:
        ctx = ConnectionContext(
            connection_id=1,
            tenant_id=1,
            platform="shopify",
            name="p",
            auth_method="admin_token",
            base_url="https://shop.myshopify.com",
            credentials={"access_token": sm.DEFAULT_ADMIN_TOKEN},
            http=http,
            tokens=MemoryTokenStore(),
            save_credentials=lambda c: None,
            settings={"order_page_size": page_size},
            now=lambda: datetime.fromtimestamp(clock.now(), UTC),
        )
        ids = [
            o.remote_id for p in import_all(ctx, OrderQuery(since=datetime(2025, 1, 1, tzinfo=UTC))) for o in p.orders
        ]
    transport.close()
    expected = sorted(state.orders.values(), key=lambda o: (o.updated_at, o.id))
    assert ids == [sm.gid("Order", o.id) for o in expected]


def test_read_products_pages_all_variants(sim, ctx):
    sim.seed_catalog(300)
    first = plugin.read_products(ctx, None)
    assert len(first.products) == plugin.PRODUCT_PAGE and first.next_page_token
    second = plugin.read_products(ctx, first.next_page_token)
    assert second.next_page_token is None
    products = first.products + second.products
    assert len(products) == len(sim.variants)
    variant = next(iter(sim.variants.values()))
    product = next(p for p in products if p.sku == variant.sku)
    assert product.remote_id == sm.gid("InventoryItem", variant.inventory_item_id)
    assert product.ean == variant.barcode and product.price == variant.price
    assert product.name.startswith(variant.product_title) and product.manages_stock


def test_read_stock_pages_levels_at_the_location(sim, make_ctx, sleeps):
    sim.seed_catalog(300)
    location = sm.gid("Location", sim.primary_location.id)
    ctx = make_ctx(settings={"location_id": location, "max_throttle_wait": 60})
    elsewhere = sim.add_location("Store")
    sim.add_product("ONLY-IN-STORE", locations=[elsewhere], stock=9)
    first = plugin.read_stock_paged(ctx, None)
    assert len(first.items) == plugin.STOCK_PAGE and first.next_page_token
    rest = plugin.read_stock_paged(ctx, first.next_page_token)
    items = first.items + rest.items
    assert rest.next_page_token is None
    assert len(items) == 305
    assert "ONLY-IN-STORE" not in {i.sku for i in items}
    variant = next(iter(sim.variants.values()))
    item = next(i for i in items if i.sku == variant.sku)
    assert item.quantity == sim.level(variant).available
    # a full page costs ~753 points: the second one waited for the bucket instead of being throttled
    assert sleeps and sim.throttled == 0


def test_location_is_required_when_the_shop_has_several(sim, make_ctx):
    sim.add_location("Second")
    with pytest.raises(RejectedByStore) as err:
        plugin.read_stock(make_ctx(), None)
    assert err.value.code == "location_required"
    located = make_ctx(settings={"location_id": str(sim.primary_location.id)})
    assert plugin.read_stock(located, None).items


def test_an_invalid_location_setting_is_a_clear_error(make_ctx):
    with pytest.raises(RejectedByStore, match="location_id"):
        plugin.read_stock(make_ctx(settings={"location_id": "gid://shopify/Order/1"}), None)


def test_line_price_and_total_decimals(sim, ctx):
    variant = sim.add_product("P-1", price="19.99", stock=5)
    sim.add_order([(variant, 3)])
    (remote,) = plugin.import_orders(ctx, OrderQuery(since=datetime.now(UTC) - timedelta(days=3650))).orders
    assert remote.total == Decimal("59.97") and remote.lines[0].unit_price == Decimal("19.99")
