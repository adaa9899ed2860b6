"""Shipments: tracking appended to the delivery, ship_partially then ship, no item list (R8)."""

from __future__ import annotations

import json
import threading

import pytest
from conftest import Shop

from kade.errors import NotFound, OutcomeUnknown, RejectedByStore
from kade.plugins.shopware import plugin
from kade.plugins.shopware.client import ShopwareClient
from kade.testing import StoreShipment
from kade.types import CancelRequest, RemoteShipmentState, ShipmentRequest, ShipmentRequestLine


def _shipment(order_id: str, n: int, *, tracking: str | None, completes: bool, first: bool = True) -> ShipmentRequest:
    return ShipmentRequest(shipment_id=n, order_remote_id=order_id, order_number="10001",
                           lines=(ShipmentRequestLine(remote_line_id="x", quantity=1),), carrier="PostNL",
                           tracking_code=tracking, first=first, completes_order=completes,
                           idempotency_key=f"kade-shipment-{n}")


def test_partial_then_final_shipment_walks_the_delivery_state_machine(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1, units=3)
    ctx = shop.ctx()
    plugin.report_shipment(ctx, _shipment(order.remote_id, 1, tracking="3SA1", completes=False))
    assert shop.harness.delivery_state(order.remote_id) == "shipped_partially"
    # a second partial shipment changes no state: there is no ship_partially out of shipped_partially
    plugin.report_shipment(ctx, _shipment(order.remote_id, 2, tracking="3SA2", completes=False, first=False))
    assert shop.harness.delivery_state(order.remote_id) == "shipped_partially"
    plugin.report_shipment(ctx, _shipment(order.remote_id, 3, tracking="3SA3", completes=True, first=False))
    assert shop.harness.delivery_state(order.remote_id) == "shipped"
    delivery = shop.sim.orders[order.remote_id].deliveries[0]
    assert delivery.tracking_codes == ["3SA1", "3SA2", "3SA3"]  # appended, never replaced
    assert [t[2] for t in shop.sim.transitions] == ["ship_partially", "ship"]
    assert shop.harness.shipments(order.remote_id) == [StoreShipment("3SA1"), StoreShipment("3SA2"),
                                                        StoreShipment("3SA3")]


def test_codes_someone_else_wrote_are_kept(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.sim.orders[order.remote_id].deliveries[0].tracking_codes.append("MANUAL1")
    plugin.report_shipment(shop.ctx(), _shipment(order.remote_id, 1, tracking="3SB1", completes=True))
    assert shop.sim.orders[order.remote_id].deliveries[0].tracking_codes == ["MANUAL1", "3SB1"]


def test_the_shipment_request_carries_no_item_list(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    plugin.report_shipment(shop.ctx(), _shipment(order.remote_id, 1, tracking="3SC1", completes=True))
    [patch] = [r for r in shop.transport.requests if r.method == "PATCH"]
    body = json.loads(patch.content)
    assert set(body) == {"trackingCodes", "customFields"}
    assert body["customFields"] == {"kade_shipments": {"kade-shipment-1": "3SC1"}}


def test_a_lost_answer_is_checked_and_finished_not_duplicated(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    ctx = shop.ctx()
    request = _shipment(order.remote_id, 1, tracking="3SD1", completes=True)
    shop.harness.drop_next_shipment_answer()
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, request)
    assert shop.harness.delivery_state(order.remote_id) == "open"  # tracking written, state not yet
    result = plugin.check_shipment(ctx, request, None)
    assert result is not None and result.state == RemoteShipmentState.CONFIRMED
    assert shop.harness.delivery_state(order.remote_id) == "shipped"
    assert shop.harness.shipments(order.remote_id) == [StoreShipment("3SD1")]
    assert plugin.check_shipment(ctx, request.model_copy(update={"idempotency_key": "other"}), None) is None


def test_sending_again_writes_nothing_twice(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    request = _shipment(order.remote_id, 1, tracking="3SE1", completes=True)
    plugin.report_shipment(shop.ctx(), request)
    plugin.report_shipment(shop.ctx(), request)
    assert shop.harness.shipments(order.remote_id) == [StoreShipment("3SE1")]
    assert len([r for r in shop.transport.requests if r.method == "PATCH"]) == 1


def test_a_cancelled_order_refuses_the_shipment(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.harness.cancel_order(order.remote_id)
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(shop.ctx(), _shipment(order.remote_id, 1, tracking="3SF1", completes=True))
    assert caught.value.code == "order_cancelled"
    assert shop.sim.orders[order.remote_id].deliveries[0].tracking_codes == []


def test_an_illegal_transition_is_a_clear_refusal(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    delivery = shop.sim.orders[order.remote_id].deliveries[0]
    shop.sim.transition_delivery(delivery.id, "ship")
    shop.sim.transition_delivery(delivery.id, "retour")  # returned: only reopen is possible
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(shop.ctx(), _shipment(order.remote_id, 1, tracking="3SG1", completes=True))
    assert caught.value.code == "SYSTEM__ILLEGAL_STATE_TRANSITION"
    assert 'Illegal transition "ship"' in caught.value.message and "Possible transitions are: reopen" in \
        caught.value.message


def test_the_simulator_refuses_ship_partially_twice(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    ctx = shop.ctx()
    delivery = shop.sim.orders[order.remote_id].deliveries[0]
    client = ShopwareClient(ctx)
    client.call("POST", f"_action/order_delivery/{delivery.id}/state/ship_partially")
    with pytest.raises(RejectedByStore, match="Possible transitions are: cancel, reopen, retour, retour_partially, "
                                              "ship"):
        client.call("POST", f"_action/order_delivery/{delivery.id}/state/ship_partially")
    assert delivery.state == "shipped_partially"


def test_unknown_orders_are_not_found(shop: Shop) -> None:
    with pytest.raises(NotFound):
        plugin.report_shipment(shop.ctx(), _shipment("0" * 32, 1, tracking="3SH1", completes=True))
    with pytest.raises(NotFound):
        plugin.report_shipment(shop.ctx(), _shipment("10001", 1, tracking="3SH1", completes=True))


def test_cancel_order_moves_the_order_state_and_is_idempotent(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1, units=2)
    product = shop.sim.orders[order.remote_id].line_items[0].product
    stock_before = product.stock
    request = CancelRequest(order_remote_id=order.remote_id, order_number=order.number)
    assert plugin.cancel_order(shop.ctx(), request).ok
    assert plugin.cancel_order(shop.ctx(), request).ok  # already cancelled: nothing sent
    assert shop.sim.orders[order.remote_id].state == "cancelled"
    assert product.stock == stock_before + 2  # the shop gives the stock back
    assert [t[2] for t in shop.sim.transitions] == ["cancel"]


def test_a_completed_order_cannot_be_cancelled(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.sim.transition_order(order.remote_id, "process")
    shop.sim.transition_order(order.remote_id, "complete")
    with pytest.raises(RejectedByStore, match="Possible transitions are: reopen"):
        plugin.cancel_order(shop.ctx(), CancelRequest(order_remote_id=order.remote_id, order_number=order.number))


def test_partial_cancellation_is_refused_with_the_reason(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    line = next(iter(order.lines))
    with pytest.raises(RejectedByStore) as caught:
        plugin.cancel_order(shop.ctx(), CancelRequest(order_remote_id=order.remote_id, order_number=order.number,
                                                      lines=(ShipmentRequestLine(remote_line_id=line, quantity=1),)))
    assert caught.value.code == "partial_cancel_unsupported"


def test_a_timeout_before_sending_the_transition_is_safe_to_repeat(shop: Shop) -> None:
    [order] = shop.harness.seed_orders(1)
    shop.sim.inject("timeout", r"/api/_action/order_delivery/", method="POST")
    request = _shipment(order.remote_id, 1, tracking="3SJ1", completes=True)
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(shop.ctx(), request)
    result = plugin.check_shipment(shop.ctx(), request, None)
    assert result is not None and shop.harness.delivery_state(order.remote_id) == "shipped"


def test_two_shipments_of_one_order_at_once_lose_no_tracking_code(shop: Shop, monkeypatch) -> None:
    """Read, append, write: without the per-order lock both would read the same list."""
    [order] = shop.harness.seed_orders(1, units=3)
    original = ShopwareClient.search
    first_read = threading.Event()
    second_read = threading.Event()

    def slow_search(self: ShopwareClient, entity: str, criteria: dict[str, object]):  # type: ignore[no-untyped-def]
        found = original(self, entity, criteria)
        if not first_read.is_set():
            first_read.set()
            second_read.wait(timeout=0.5)  # give the other worker every chance to read the same list
        else:
            second_read.set()
        return found

    monkeypatch.setattr(ShopwareClient, "search", slow_search)
    ctx = shop.ctx()
    errors: list[BaseException] = []

    def ship(n: int) -> None:
        try:
            plugin.report_shipment(ctx, _shipment(order.remote_id, n, tracking=f"3SK{n}", completes=False))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=ship, args=(n,)) for n in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert errors == []
    assert sorted(shop.sim.orders[order.remote_id].deliveries[0].tracking_codes) == ["3SK1", "3SK2"]
    assert len(shop.harness.shipments(order.remote_id)) == 2
