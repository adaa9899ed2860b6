"""Orders through POST /api/search/order: what is asked, what comes back, what is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from conftest import Shop

from kade.plugins.shopware import plugin
from kade.plugins.shopware.simulator.render import render_order
from kade.plugins.shopware.simulator.state import LineItem, new_id
from kade.types import OrderQuery, RemoteOrderStatus


def _criteria(shop: Shop) -> list[dict[str, object]]:
    return [json.loads(r.content) for r in shop.transport.requests if r.url.path == "/api/search/order"]


def test_the_first_import_takes_open_orders_with_every_state_loaded(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1, units=3)
    page = plugin.import_orders(shop.ctx(), OrderQuery())
    assert page is not None and page.next_page_token is None
    [remote] = page.orders
    assert remote.remote_id == order.remote_id and remote.number == order.number
    assert remote.status == RemoteOrderStatus.OPEN and remote.currency == "EUR"
    [line] = remote.lines
    assert (line.sku, line.quantity) == next(iter(order.lines.values()))
    assert remote.shipping_address.city == "Amsterdam" and remote.billing_address.email == "jan@example.nl"
    [criteria] = _criteria(shop)
    assert criteria["filter"] == [{"type": "equalsAny", "field": "stateMachineState.technicalName",
                                   "value": ["open", "in_progress"]}]
    associations = criteria["associations"]
    assert isinstance(associations, dict)
    assert associations["deliveries"]["associations"]["stateMachineState"] == {}
    assert associations["transactions"]["associations"]["stateMachineState"] == {}


def test_without_the_association_the_delivery_state_is_null(shop: Shop) -> None:
    """The 6.6 trap the plugin's criteria avoid: states are only there when asked for."""
    [seeded] = shop.harness.seed_orders(1)
    order = shop.sim.orders[seeded.remote_id]
    bare = render_order(order, {"deliveries": {}})
    assert bare["deliveries"][0]["stateMachineState"] is None and bare["stateMachineState"] is None
    full = render_order(order, {"deliveries": {"associations": {"stateMachineState": {}}}})
    assert full["deliveries"][0]["stateMachineState"]["technicalName"] == "open"


def test_changed_since_includes_orders_nobody_updated_yet(shop: Shop) -> None:
    """``updatedAt`` is null until an order is first changed; ``createdAt`` covers new ones."""
    since = shop.sim.now()
    [new] = shop.harness.seed_orders(1)
    assert shop.sim.orders[new.remote_id].updated_at is None
    page = plugin.import_orders(shop.ctx(), OrderQuery(since=since))
    assert page is not None and [o.remote_id for o in page.orders] == [new.remote_id]
    [criteria] = _criteria(shop)
    [multi] = criteria["filter"]  # type: ignore[misc]
    assert multi["operator"] == "or" and {q["field"] for q in multi["queries"]} == {"updatedAt", "createdAt"}


def test_an_incremental_import_sees_a_cancellation(shop: Shop) -> None:
    [old] = shop.harness.seed_orders(1)
    shop.harness.clock.advance(3600)
    since = shop.sim.now()
    shop.harness.clock.advance(5)
    shop.harness.cancel_order(old.remote_id)
    page = plugin.import_orders(shop.ctx(), OrderQuery(since=since))
    assert page is not None
    assert [(o.remote_id, o.status) for o in page.orders] == [(old.remote_id, RemoteOrderStatus.CANCELLED)]


def test_older_changes_are_not_fetched_again(shop: Shop) -> None:
    shop.harness.seed_orders(2)
    shop.harness.clock.advance(60)
    page = plugin.import_orders(shop.ctx(), OrderQuery(since=shop.sim.now() - timedelta(seconds=10)))
    assert page is not None and page.orders == ()


def test_paging_covers_everything_once_and_ends(shop: Shop) -> None:
    seeded = shop.harness.seed_orders(230)
    ctx = shop.ctx()
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = plugin.import_orders(ctx, OrderQuery(page_token=token))
        assert page is not None
        pages += 1
        seen += [o.remote_id for o in page.orders]
        token = page.next_page_token
        if token is None:
            break
    assert pages == 3 and sorted(seen) == sorted(s.remote_id for s in seeded) and len(seen) == len(set(seen))


def test_a_store_shipped_order_is_shipped(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.sim.transition_delivery(shop.sim.orders[order.remote_id].deliveries[0].id, "ship")
    page = plugin.import_orders(shop.ctx(), OrderQuery())
    assert page is not None and page.orders[0].status == RemoteOrderStatus.SHIPPED


def test_a_malformed_order_costs_only_itself(shop: Shop) -> None:
    good, bad, worse = shop.harness.seed_orders(3)
    shop.sim.orders[bad.remote_id].malformed = {"orderDateTime": "yesterday"}
    shop.sim.orders[worse.remote_id].malformed = {"currency": None}
    page = plugin.import_orders(shop.ctx(), OrderQuery())
    assert page is not None
    assert [o.remote_id for o in page.orders] == [good.remote_id]
    reasons = {r.remote_id: r.reason for r in page.rejected}
    assert "orderDateTime 'yesterday' is not an ISO 8601" in reasons[bad.remote_id]
    assert "currency.isoCode" in reasons[worse.remote_id]


def test_promotions_are_not_lines_to_ship(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.sim.orders[order.remote_id].line_items.append(
        LineItem(id=new_id(), product=None, label="10% off", quantity=1, unit_price=Decimal("-2"),
                 type="promotion", good=False))
    page = plugin.import_orders(shop.ctx(), OrderQuery())
    assert page is not None and len(page.orders[0].lines) == 1
