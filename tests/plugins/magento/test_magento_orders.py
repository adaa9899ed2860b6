"""Order import: searchCriteria paging by total_count, configurables once, cancellations, bad records."""

from __future__ import annotations

from decimal import Decimal

from magento_testkit import Magento

from kade.plugins.magento import plugin
from kade.types import OrderQuery, RemoteOrderStatus


def _all(m: Magento, query: OrderQuery | None = None) -> tuple[list, list, int]:
    ctx = m.ctx()
    page = plugin.import_orders(ctx, query or OrderQuery())
    orders, rejected, pages = list(page.orders), list(page.rejected), 1
    while page.next_page_token:
        page = plugin.import_orders(ctx, OrderQuery(page_token=page.next_page_token))
        orders += page.orders
        rejected += page.rejected
        pages += 1
        assert pages < 50, "paging must stop by total_count"
    return orders, rejected, pages


def test_a_page_past_the_end_repeats_the_last_page(magento: Magento) -> None:
    product = magento.sim.add_product("MAG-1", stock=99)
    for _ in range(5):
        magento.sim.place_order([(product, 1)], invoice=False)
    params = {"searchCriteria[pageSize]": "2", "searchCriteria[currentPage]": "3"}
    last = magento.raw("GET", "/rest/default/V1/orders", params=params).json()
    beyond = magento.raw("GET", "/rest/default/V1/orders", params={**params, "searchCriteria[currentPage]": "9"}).json()
    assert last["items"] == beyond["items"] and len(beyond["items"]) == 1 and beyond["total_count"] == 5


def test_the_import_stops_by_total_count_and_sees_every_order_once(magento: Magento) -> None:
    product = magento.sim.add_product("MAG-1", stock=999)
    placed = [magento.sim.place_order([(product, 1)], invoice=False) for _ in range(230)]
    orders, rejected, pages = _all(magento)
    assert pages == 3 and rejected == []
    assert sorted(int(o.remote_id) for o in orders) == [o.entity_id for o in placed]


def test_a_configurable_line_is_imported_once_with_the_simple_sku(magento: Magento) -> None:
    sim = magento.sim
    child = sim.add_product("SHIRT-RED-M", name="Shirt Red M", stock=4)
    parent = sim.add_configurable("SHIRT", [child], name="Shirt")
    order = sim.place_order([(child, 2)], child_of={child.id: parent}, invoice=False)
    [imported], _, _ = _all(magento)
    [line] = imported.lines
    parent_item = next(i for i in order.items if i.parent_item_id is None)
    assert (line.remote_line_id, line.sku, line.name, line.quantity) == (
        str(parent_item.item_id), "SHIRT-RED-M", "Shirt Red M", 2)


def test_only_ready_states_are_imported_first_and_changes_come_by_updated_at(magento: Magento) -> None:
    sim = magento.sim
    product = sim.add_product("MAG-1", stock=99)
    ready = sim.place_order([(product, 1)], invoice=False)
    pending = sim.place_order([(product, 1)], state="new", invoice=False)
    orders, _, _ = _all(magento)
    assert [o.remote_id for o in orders] == [str(ready.entity_id)]
    mark = sim.now()
    sim.clock.advance(60)
    sim.cancel(ready)
    changed, _, _ = _all(magento, OrderQuery(since=mark))
    assert [(o.remote_id, o.status) for o in changed] == [(str(ready.entity_id), RemoteOrderStatus.CANCELLED)]
    assert all(li.quantity_cancelled == li.quantity for li in changed[0].lines)
    assert str(pending.entity_id) not in {o.remote_id for o in changed}


def test_a_refunded_paid_order_is_cancelled_and_a_partly_shipped_one_keeps_its_shipped_units(
        magento: Magento) -> None:
    sim = magento.sim
    product = sim.add_product("MAG-1", stock=99)
    paid = sim.place_order([(product, 2)])
    sim.refund(paid)
    partly = sim.place_order([(product, 3)])
    sim.ship(partly, [(partly.items[0].item_id, Decimal(1))], [], None, None)
    sim.refund(partly)
    orders = {o.remote_id: o for o in _all(magento, OrderQuery(since=sim.now().replace(year=2000)))[0]}
    assert orders[str(paid.entity_id)].status == RemoteOrderStatus.CANCELLED
    shipped = orders[str(partly.entity_id)]
    assert shipped.status == RemoteOrderStatus.SHIPPED
    assert (shipped.lines[0].quantity_shipped, shipped.lines[0].quantity_cancelled) == (1, 2)


def test_a_bad_record_costs_only_itself(magento: Magento) -> None:
    sim = magento.sim
    product = sim.add_product("MAG-1", stock=99)
    good = sim.place_order([(product, 1)], invoice=False)
    fractional = sim.place_order([(product, 1)], invoice=False)
    fractional.items[0].qty_ordered = Decimal("1.5")
    no_sku = sim.place_order([(product, 1)], invoice=False)
    sim.malform(no_sku, items=[{"item_id": no_sku.items[0].item_id, "sku": "", "qty_ordered": 1}])
    orders, rejected, _ = _all(magento)
    assert [o.remote_id for o in orders] == [str(good.entity_id)]
    reasons = {r.remote_id: r.reason for r in rejected}
    assert "not a whole number" in reasons[str(fractional.entity_id)]
    assert "has no sku" in reasons[str(no_sku.entity_id)]
