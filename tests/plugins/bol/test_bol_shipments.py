"""Shipments (rules R4, R8, R10): asynchronous results, lost answers, no duplicates; cancellations."""

from __future__ import annotations

import pytest
from bol_testkit import Bol, BolFactory

from kade.errors import OutcomeUnknown, RejectedByStore
from kade.plugins.bol import plugin
from kade.plugins.bol.simulator import SimOrder
from kade.types import CancelRequest, RemoteShipmentState, ShipmentRequest, ShipmentRequestLine


def an_order(bol: Bol, *quantities: int) -> SimOrder:
    offers = [bol.sim.add_offer(reference=f"SKU-{n}") for n in range(len(quantities))]
    return bol.sim.add_order(list(zip(offers, quantities, strict=True)))


def shipment_for(order: SimOrder, *quantities: int, carrier: str = "PostNL", key: str = "ship-1") -> ShipmentRequest:
    return ShipmentRequest(
        shipment_id=1,
        order_remote_id=order.order_id,
        order_number=order.order_id,
        lines=tuple(
            ShipmentRequestLine(remote_line_id=item.order_item_id, quantity=q)
            for item, q in zip(order.items, quantities, strict=False)
            if q
        ),
        carrier=carrier,
        tracking_code="3SBOL0987654321",
        idempotency_key=key,
    )


def test_shipment_confirmed_with_transporter_code_and_tracking(bol: Bol) -> None:
    order = an_order(bol, 2, 1)
    result = plugin.report_shipment(bol.ctx(), shipment_for(order, 2, 1))
    assert result.state is RemoteShipmentState.CONFIRMED
    [shipped] = bol.sim.shipments_for(order.order_id)
    assert shipped.transporter_code == "TNT"  # PostNL is TNT at bol
    assert shipped.track_and_trace == "3SBOL0987654321"
    assert shipped.reference == "ship-1"
    assert shipped.items == [(order.items[0].order_item_id, 2), (order.items[1].order_item_id, 1)]


def test_partial_shipments_per_item_quantity(bol: Bol) -> None:
    order = an_order(bol, 3)
    ctx = bol.ctx()
    assert plugin.report_shipment(ctx, shipment_for(order, 1, key="a")).state is RemoteShipmentState.CONFIRMED
    assert plugin.report_shipment(ctx, shipment_for(order, 2, key="b")).state is RemoteShipmentState.CONFIRMED
    assert order.items[0].quantity_shipped == 3
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(ctx, shipment_for(order, 1, key="c"))
    assert caught.value.code == "already_shipped"


def test_shipping_a_cancelled_item_is_order_cancelled(bol: Bol) -> None:
    order = an_order(bol, 1)
    bol.sim.cancel_item(order.items[0].order_item_id)
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(bol.ctx(), shipment_for(order, 1))
    assert caught.value.code == "order_cancelled"
    assert "has been cancelled" in caught.value.message
    assert bol.sim.shipments_for(order.order_id) == []


def test_over_shipping_fails_with_the_reason(bol: Bol) -> None:
    order = an_order(bol, 1)
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(bol.ctx(), shipment_for(order, 2))
    assert caught.value.code == "shipment_failed"
    assert "exceeds the open quantity 1" in caught.value.message


def test_unknown_carrier_is_refused_before_sending(bol: Bol) -> None:
    order = an_order(bol, 1)
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(bol.ctx(), shipment_for(order, 1, carrier="Pigeon Post"))
    assert caught.value.code == "unknown_carrier"
    assert "'Pigeon Post'" in caught.value.message
    assert bol.sim.count_requests("POST", "/retailer/shipments") == 0


def test_unknown_carrier_uses_the_configured_fallback(bol: Bol) -> None:
    order = an_order(bol, 1)
    ctx = bol.ctx(settings={"fallback_transporter_code": "OTHER"})
    result = plugin.report_shipment(ctx, shipment_for(order, 1, carrier="Pigeon Post"))
    assert result.state is RemoteShipmentState.CONFIRMED
    assert bol.sim.shipments_for(order.order_id)[0].transporter_code == "OTHER"


def test_pending_then_confirmed_by_check(bol_factory: BolFactory) -> None:
    bol = bol_factory(process_delay=60.0)
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1)
    ctx = bol.ctx(settings={"process_wait_seconds": 3})
    result = plugin.report_shipment(ctx, shipment)
    assert result.state is RemoteShipmentState.PENDING and result.remote_reference
    assert plugin.check_shipment(ctx, shipment, result.remote_reference).state is RemoteShipmentState.PENDING
    bol.clock.advance(60)
    checked = plugin.check_shipment(ctx, shipment, result.remote_reference)
    assert checked is not None and checked.state is RemoteShipmentState.CONFIRMED
    assert len(bol.sim.shipments_for(order.order_id)) == 1


def test_pending_failure_found_by_check_is_order_cancelled(bol_factory: BolFactory) -> None:
    bol = bol_factory(process_delay=60.0)
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1)
    ctx = bol.ctx(settings={"process_wait_seconds": 0})
    result = plugin.report_shipment(ctx, shipment)
    bol.sim.cancel_item(order.items[0].order_item_id)  # the customer cancels while bol processes
    bol.clock.advance(60)
    with pytest.raises(RejectedByStore) as caught:
        plugin.check_shipment(ctx, shipment, result.remote_reference)
    assert caught.value.code == "order_cancelled"


def test_timeout_after_apply_then_check_confirms_without_duplicate(bol: Bol) -> None:
    order = an_order(bol, 2)
    shipment = shipment_for(order, 2)
    ctx = bol.ctx()
    bol.sim.inject("timeout_after_apply", "/retailer/shipments", method="POST")
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, shipment)
    checked = plugin.check_shipment(ctx, shipment, None)
    assert checked is not None and checked.state is RemoteShipmentState.CONFIRMED
    assert checked.remote_reference == bol.sim.shipments_for(order.order_id)[0].shipment_id
    assert len(bol.sim.shipments_for(order.order_id)) == 1
    assert bol.sim.count_requests("POST", "/retailer/shipments") == 1


def test_timeout_after_apply_still_processing_is_pending(bol_factory: BolFactory) -> None:
    bol = bol_factory(process_delay=30.0)
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1)
    ctx = bol.ctx()
    bol.sim.inject("timeout_after_apply", "/retailer/shipments", method="POST")
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, shipment)
    checked = plugin.check_shipment(ctx, shipment, None)
    assert checked is not None and checked.state is RemoteShipmentState.PENDING
    bol.clock.advance(30)
    again = plugin.check_shipment(ctx, shipment, checked.remote_reference)
    assert again is not None and again.state is RemoteShipmentState.CONFIRMED


def test_timeout_before_apply_leaves_no_trace(bol: Bol) -> None:
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1)
    ctx = bol.ctx()
    bol.sim.inject("timeout", "/retailer/shipments", method="POST")
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, shipment)
    assert plugin.check_shipment(ctx, shipment, None) is None
    assert plugin.report_shipment(ctx, shipment).state is RemoteShipmentState.CONFIRMED
    assert len(bol.sim.shipments_for(order.order_id)) == 1


def test_check_after_status_expired_uses_the_shipment_list(bol: Bol) -> None:
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1)
    ctx = bol.ctx()
    result = plugin.report_shipment(ctx, shipment)
    bol.clock.advance(49 * 3600)  # process statuses are kept about 48 hours
    checked = plugin.check_shipment(ctx, shipment, result.remote_reference)
    assert checked is not None and checked.state is RemoteShipmentState.CONFIRMED


def test_long_idempotency_keys_fit_bol_reference(bol: Bol) -> None:
    order = an_order(bol, 1)
    shipment = shipment_for(order, 1, key="k" * 200)
    ctx = bol.ctx()
    plugin.report_shipment(ctx, shipment)
    reference = bol.sim.shipments_for(order.order_id)[0].reference
    assert reference is not None and len(reference) <= 90
    assert plugin.check_shipment(ctx, shipment, None) is not None


# -- cancellations ---------------------------------------------------------------------------


def test_cancel_whole_order_one_item_per_call(bol: Bol) -> None:
    order = an_order(bol, 1, 2)
    result = plugin.cancel_order(bol.ctx(), CancelRequest(order_remote_id=order.order_id, order_number=order.order_id))
    assert result.ok and result.remote_reference and len(result.remote_reference.split(",")) == 2
    assert all(item.quantity_cancelled == item.quantity for item in order.items)
    assert bol.sim.count_requests("PUT", "/retailer/orders/cancellation") == 2


def test_cancel_confirms_a_customer_request(bol: Bol) -> None:
    order = an_order(bol, 1)
    bol.sim.request_cancellation(order.items[0].order_item_id)
    request = CancelRequest(
        order_remote_id=order.order_id,
        order_number=order.order_id,
        lines=(ShipmentRequestLine(remote_line_id=order.items[0].order_item_id, quantity=1),),
        reason="requested_by_customer",
    )
    assert plugin.cancel_order(bol.ctx(), request).ok
    assert order.items[0].quantity_cancelled == 1 and not order.items[0].cancellation_request


def test_cancel_part_of_an_item_is_refused(bol: Bol) -> None:
    order = an_order(bol, 3)
    request = CancelRequest(
        order_remote_id=order.order_id,
        order_number=order.order_id,
        lines=(ShipmentRequestLine(remote_line_id=order.items[0].order_item_id, quantity=1),),
    )
    with pytest.raises(RejectedByStore) as caught:
        plugin.cancel_order(bol.ctx(), request)
    assert caught.value.code == "partial_cancel_unsupported"


def test_cancel_a_shipped_order_is_refused(bol: Bol) -> None:
    order = an_order(bol, 1)
    plugin.report_shipment(bol.ctx(), shipment_for(order, 1))
    with pytest.raises(RejectedByStore) as caught:
        plugin.cancel_order(bol.ctx(), CancelRequest(order_remote_id=order.order_id, order_number="x"))
    assert caught.value.code == "already_shipped"
