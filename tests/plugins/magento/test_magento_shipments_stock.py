"""Shipments (R8: partial, processing until all shipped, complete only when invoiced, never twice)
and stock (MSI source items with reservations, the legacy stock item)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from magento_testkit import Magento

from kade.errors import OutcomeUnknown, RejectedByStore
from kade.plugins.magento import plugin
from kade.types import ShipmentRequest, ShipmentRequestLine, StockUpdate


def _ship(m: Magento, order_id: int, lines: dict[int, int], key: str, tracking: str = "3SMAG") -> str | None:
    request = ShipmentRequest(shipment_id=1, order_remote_id=str(order_id), order_number=str(order_id),
                              lines=tuple(ShipmentRequestLine(remote_line_id=str(i), quantity=q)
                                          for i, q in lines.items()),
                              carrier="DHL Parcel", tracking_code=tracking, idempotency_key=key)
    return plugin.report_shipment(m.ctx(), request).remote_reference


def test_partial_shipments_keep_processing_and_an_uninvoiced_order_never_completes(magento: Magento) -> None:
    sim = magento.sim
    order = sim.place_order([(sim.add_product("MAG-1", stock=9), 2)], invoice=False)
    item = order.items[0].item_id
    _ship(magento, order.entity_id, {item: 1}, "a", "T1")
    assert order.state == "processing"
    _ship(magento, order.entity_id, {item: 1}, "b", "T2")
    assert order.state == "processing", "shipped in full but not invoiced: Magento keeps it processing"
    sim.invoice(order)
    assert order.state == "complete"
    [first, second] = sim.shipments_of(order)
    assert [t.track_number for t in first.tracks + second.tracks] == ["T1", "T2"]
    assert first.tracks[0].carrier_code == "dhl" and first.tracks[0].title == "DHL Parcel"


def test_a_retried_shipment_asks_the_store_first_and_never_ships_twice(magento: Magento) -> None:
    sim = magento.sim
    order = sim.place_order([(sim.add_product("MAG-1", stock=9), 2)])
    sim.inject("timeout_after_apply", r"/rest/[^/]+/V1/order/\d+/ship$", method="POST")
    with pytest.raises(OutcomeUnknown):
        _ship(magento, order.entity_id, {order.items[0].item_id: 1}, "retry-me")
    reference = _ship(magento, order.entity_id, {order.items[0].item_id: 1}, "retry-me")
    [shipment] = sim.shipments_of(order)
    assert reference == str(shipment.entity_id)


def test_a_configurable_ships_by_its_parent_item_and_the_child_alone_is_refused(magento: Magento) -> None:
    sim = magento.sim
    child = sim.add_product("SHIRT-RED-M", stock=4)
    order = sim.place_order([(child, 1)], child_of={child.id: sim.add_configurable("SHIRT", [child])})
    parent_item, child_item = order.items
    with pytest.raises(RejectedByStore, match="without products"):
        _ship(magento, order.entity_id, {child_item.item_id: 1}, "child")
    _ship(magento, order.entity_id, {parent_item.item_id: 1}, "parent")
    assert (parent_item.qty_shipped, child_item.qty_shipped) == (1, 1) and order.state == "complete"


def test_a_store_cancelled_order_refuses_the_shipment_by_code(magento: Magento) -> None:
    sim = magento.sim
    order = sim.place_order([(sim.add_product("MAG-1", stock=9), 1)], invoice=False)
    sim.cancel(order)
    with pytest.raises(RejectedByStore) as refused:
        _ship(magento, order.entity_id, {order.items[0].item_id: 1}, "late")
    assert refused.value.code == "order_cancelled" and sim.shipments_of(order) == []


def test_msi_reservations_are_magentos_so_kade_pushes_the_on_hand_quantity(magento: Magento) -> None:
    sim = magento.sim
    product = sim.add_product("MAG-1", stock=10)
    order = sim.place_order([(product, 3)])
    assert sim.source_items[("MAG-1", "default")].quantity == 10 and sim.salable("MAG-1") == 7
    [result] = plugin.push_stock(magento.ctx(), [StockUpdate(remote_product_id="MAG-1", quantity=10)])
    assert result.ok and sim.salable("MAG-1") == 7, "the on-hand 10 minus Magento's own reservation of 3"
    _ship(magento, order.entity_id, {order.items[0].item_id: 3}, "s")
    assert sim.source_items[("MAG-1", "default")].quantity == 7 and sim.salable("MAG-1") == 7


def test_one_unknown_sku_costs_only_itself_in_an_msi_batch(magento: Magento) -> None:
    sim = magento.sim
    for n in range(5):
        sim.add_product(f"MAG-{n}")
    updates = [StockUpdate(remote_product_id=f"MAG-{n}", quantity=n + 1) for n in range(5)]
    updates.insert(2, StockUpdate(remote_product_id="GONE", quantity=4))
    results = {r.remote_product_id: r for r in plugin.push_stock(magento.ctx(), updates)}
    assert not results["GONE"].ok and "Could not save Source Item" in (results["GONE"].error or "")
    assert all(results[f"MAG-{n}"].ok for n in range(5))
    assert [int(sim.source_items[(f"MAG-{n}", "default")].quantity) for n in range(5)] == [1, 2, 3, 4, 5]


def test_a_store_without_msi_gets_the_legacy_stock_item(magento_factory) -> None:
    m = magento_factory(msi=False)
    product = m.sim.add_product("MAG-1", stock=2)
    assert not plugin.check_connection(m.ctx(stock_api="msi")).ok
    assert plugin.check_connection(m.ctx()).ok
    [result] = plugin.push_stock(m.ctx(), [StockUpdate(remote_product_id="MAG-1", quantity=12)])
    assert result.ok and product.qty == Decimal(12) and product.is_in_stock


def test_an_unknown_source_code_is_reported_before_any_push(magento: Magento) -> None:
    result = plugin.check_connection(magento.ctx(source_code="warehouse-2"))
    assert not result.ok and "warehouse-2" in result.message
