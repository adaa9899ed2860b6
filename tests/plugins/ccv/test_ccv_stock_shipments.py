"""Stock per product or attribute combination; shipments as status 5 with one track & trace."""

from __future__ import annotations

import pytest

from kade.errors import NotFound, RejectedByStore
from kade.plugins.ccv import plugin
from kade.plugins.ccv.client import CcvClient
from kade.plugins.ccv.simulator.state import CcvState
from kade.types import (
    CancelRequest,
    ConnectionContext,
    RemoteShipmentState,
    ShipmentRequest,
    ShipmentRequestLine,
    StockUpdate,
)


def _products(ctx: ConnectionContext) -> dict[str, tuple[str | None, int | None, bool]]:
    page = plugin.read_products(ctx, None)
    assert page is not None
    return {p.remote_id: (p.sku, p.stock, p.manages_stock) for p in page.products}


def test_products_with_combination_stock_are_their_combinations(ctx, state: CcvState) -> None:
    plain = state.add_product("PLAIN", stock=7)
    shirt = state.add_product("SHIRT")
    red = state.add_combination(shirt, "SHIRT-RED", stock=2)
    blue = state.add_combination(shirt, "", stock=1)
    assert _products(ctx) == {f"p:{plain.id}": ("PLAIN", 7, True), f"c:{red.id}": ("SHIRT-RED", 2, True),
                              f"c:{blue.id}": (blue.product_number, 1, True)}


def test_stock_goes_to_the_product_or_the_combination(ctx, state: CcvState) -> None:
    plain = state.add_product("PLAIN", stock=7)
    shirt = state.add_product("SHIRT")
    red = state.add_combination(shirt, "SHIRT-RED", stock=2)
    results = plugin.push_stock(ctx, [StockUpdate(remote_product_id=f"p:{plain.id}", sku="PLAIN", quantity=3),
                                      StockUpdate(remote_product_id=f"c:{red.id}", sku="SHIRT-RED", quantity=9)])
    assert results is not None and all(r.ok for r in results)
    assert (plain.stock, red.stock) == (3, 9)
    assert ("PATCH", f"/api/rest/v1/attributecombinations/{red.id}/") in state.requests


def test_stock_items_that_cannot_take_it_cost_only_themselves(ctx, state: CcvState) -> None:
    off = state.add_product("OFF", stock=0, stockenabled=False)
    shirt = state.add_product("SHIRT")
    state.add_combination(shirt, "SHIRT-RED")
    good = state.add_product("GOOD")
    _products(ctx)
    updates = [StockUpdate(remote_product_id=ref, sku="x", quantity=4)
               for ref in (f"p:{off.id}", f"p:{shirt.id}", "p:99999", "12", f"p:{good.id}")]
    results = plugin.push_stock(ctx, updates)
    assert results is not None
    assert [r.error_kind for r in results] == ["stock_not_tracked", "stock_on_combinations", "not_found",
                                               "invalid_reference", None]
    assert good.stock == 4 and off.stock == 0


def test_the_shop_refuses_product_stock_for_a_combination_product(ctx, state: CcvState) -> None:
    shirt = state.add_product("SHIRT")
    state.add_combination(shirt, "SHIRT-RED")
    with pytest.raises(RejectedByStore, match="attribute combinations"):
        CcvClient(ctx).patch(f"products/{shirt.id}", {"stock": 3})


def test_read_stock_reports_every_item(ctx, state: CcvState) -> None:
    state.add_product("A", stock=4)
    state.add_product("OFF", stockenabled=False, stock=2)
    page = plugin.read_stock(ctx, None)
    assert page is not None and [(i.sku, i.quantity) for i in page.items] == [("A", 4), ("OFF", None)]


def _shipment(order_id: int, *, tracking: str | None = "3SCCV1", first: bool = True) -> ShipmentRequest:
    return ShipmentRequest(shipment_id=1, order_remote_id=str(order_id), order_number="N1",
                           lines=(ShipmentRequestLine(remote_line_id="1", sku="A", quantity=1),), carrier="PostNL",
                           tracking_code=tracking, first=first, idempotency_key="kade-shipment-1")


def test_a_shipment_sets_status_5_with_carrier_and_track_and_trace(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 1)])
    result = plugin.report_shipment(ctx, _shipment(order.id))
    assert result is not None and result.state is RemoteShipmentState.CONFIRMED
    assert (order.status, order.track_and_trace_code, order.track_and_trace_carrier) == (5, "3SCCV1", "postnl")
    assert order.sent_reports == ["3SCCV1"] and order.mails == 1


def test_a_later_report_on_a_sent_order_writes_nothing(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 2)])
    plugin.report_shipment(ctx, _shipment(order.id))
    plugin.report_shipment(ctx, _shipment(order.id, tracking=None, first=False))
    plugin.report_shipment(ctx, _shipment(order.id))  # sent again after a lost answer
    assert order.sent_reports == ["3SCCV1"] and order.track_and_trace_code == "3SCCV1"


def test_tracking_goes_only_with_the_first_shipment(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 2)])
    plugin.report_shipment(ctx, _shipment(order.id, tracking="3SLATER", first=False))
    assert order.status == 5 and order.track_and_trace_code == ""


def test_mail_follows_the_setting(make_ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 1)])
    plugin.report_shipment(make_ctx(settings={"notify_customer": "false"}), _shipment(order.id))
    assert order.mails == 0 and order.status == 5


def test_a_shipment_for_a_cancelled_order_is_refused(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 1)], status=8)
    with pytest.raises(RejectedByStore) as caught:
        plugin.report_shipment(ctx, _shipment(order.id))
    assert caught.value.code == "order_cancelled" and order.sent_reports == []


def test_check_shipment_finds_a_landed_report(ctx, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 1)])
    assert plugin.check_shipment(ctx, _shipment(order.id), None) is None
    order.status, order.track_and_trace_code = 5, "3SCCV1"
    result = plugin.check_shipment(ctx, _shipment(order.id), None)
    assert result is not None and result.state is RemoteShipmentState.CONFIRMED


def test_an_order_id_that_is_not_a_number_is_not_found(ctx) -> None:
    with pytest.raises(NotFound):
        plugin.report_shipment(ctx, _shipment(0).model_copy(update={"order_remote_id": "abc"}))


def test_cancel_sets_status_8_and_is_refused_once_sent(ctx, state: CcvState) -> None:
    product = state.add_product("A", stock=5)
    order = state.create_order([(product, 1)])
    request = CancelRequest(order_remote_id=str(order.id), order_number="N1", reason="out_of_stock")
    result = plugin.cancel_order(ctx, request)
    assert result is not None and result.ok and order.status == 8
    sent = state.create_order([(product, 1)], status=5)
    with pytest.raises(RejectedByStore) as caught:
        plugin.cancel_order(ctx, request.model_copy(update={"order_remote_id": str(sent.id)}))
    assert caught.value.code == "order_shipped" and sent.status == 5


@pytest.mark.parametrize(("body", "message"), [({"status": 99}, "does not exist"),
                                               ({"status": "5"}, "must be int"),
                                               ({"track_and_trace": "x"}, "not allowed"),
                                               ({"mail": 1}, "must be bool")])
def test_the_shop_validates_an_order_patch(ctx, state: CcvState, body: dict[str, object], message: str) -> None:
    order = state.create_order([(state.add_product("A", stock=5), 1)])
    with pytest.raises(RejectedByStore, match=message):
        CcvClient(ctx).patch(f"orders/{order.id}", body)
    assert order.status == 1
