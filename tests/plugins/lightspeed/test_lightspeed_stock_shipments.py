"""Stock per variant (tracking respected per item) and shipments without partials (R8)."""

from __future__ import annotations

import pytest

from kade.errors import OutcomeUnknown, RejectedByStore
from kade.plugins.lightspeed import plugin as ls
from kade.types import CancelRequest, RemoteShipmentState, ShipmentRequest, ShipmentRequestLine, StockUpdate


def test_stock_sets_levels_and_an_untracked_variant_is_a_per_item_error(ctx, state, shop) -> None:
    tracked = state.add_variant(shop, sku="A", stock=1)
    untracked = state.add_variant(shop, sku="B", stock=1, stock_tracking="disabled")
    results = ls.push_stock(ctx, [StockUpdate(remote_product_id=str(tracked.id), quantity=7),
                                  StockUpdate(remote_product_id=str(untracked.id), quantity=7),
                                  StockUpdate(remote_product_id="999999", quantity=7),
                                  StockUpdate(remote_product_id="abc", quantity=7)])
    by_id = {r.remote_product_id: r for r in results}
    assert by_id[str(tracked.id)].ok and tracked.stock_level == 7
    assert by_id[str(untracked.id)].error_kind == "stock_not_tracked"
    assert "does not track stock" in (by_id[str(untracked.id)].error or "")
    assert by_id["999999"].error_kind == "not_found"
    assert by_id["abc"].error_kind == "invalid_reference"
    writes = [p for m, p in state.requests if m == "PUT"]
    ls.push_stock(ctx, [StockUpdate(remote_product_id=str(untracked.id), quantity=8)])
    assert [p for m, p in state.requests if m == "PUT"] == writes  # known untracked: not written again


def test_variant_import_reports_stock_tracking(ctx, state, shop) -> None:
    state.add_variant(shop, sku="A", ean="8712345678906", stock=4)
    state.add_variant(shop, sku="B", stock=2, stock_tracking="indicator")
    page = ls.read_products(ctx, None)
    assert [(p.sku, p.ean, p.stock, p.manages_stock) for p in page.products] == [
        ("A", "8712345678906", 4, True), ("B", None, 2, False)]
    stock = ls.read_stock(ctx, None)
    assert [i.quantity for i in stock.items] == [4, None]


def test_simulator_refuses_unknown_or_bad_fields(ctx, state, shop) -> None:
    variant = state.add_variant(shop, sku="A")
    client = ls.LightspeedClient(ctx)
    with pytest.raises(RejectedByStore, match="Unknown or read-only variant field 'stock'"):
        client.put(f"variants/{variant.id}", {"variant": {"stock": 3}})
    with pytest.raises(RejectedByStore, match="Invalid value for variant field 'stockLevel'"):
        client.put(f"variants/{variant.id}", {"variant": {"stockLevel": "3"}})
    with pytest.raises(RejectedByStore, match="wrapped in 'variant'"):
        client.put(f"variants/{variant.id}", {"stockLevel": 3})


def _request(order, tracking: str | None = "3SKADE1") -> ShipmentRequest:
    return ShipmentRequest(shipment_id=1, order_remote_id=str(order.id), order_number=order.number,
                           lines=tuple(ShipmentRequestLine(remote_line_id=str(p.id), sku=p.sku, quantity=p.quantity)
                                       for p in order.products),
                           carrier="PostNL", tracking_code=tracking, idempotency_key="kade-shipment-1")


def test_shipment_marks_the_shops_shipment_shipped_with_tracking(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 2)])
    result = ls.report_shipment(ctx, _request(order))
    assert result is not None and result.state == RemoteShipmentState.CONFIRMED
    [shipment] = state.order_shipments(order.id)
    assert (shipment.status, shipment.tracking_code, shipment.carrier) == ("shipped", "3SKADE1", "PostNL")
    assert (order.status, order.shipment_status) == ("completed_shipped", "shipped")
    assert order.products[0].quantity_shipped == 2


def test_lost_answer_is_checked_and_never_written_twice(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    state.inject("timeout_after_apply", r"/nl/shipments/\d+\.json$", method="PUT")
    with pytest.raises(OutcomeUnknown):
        ls.report_shipment(ctx, _request(order))
    puts = len([m for m, _ in state.requests if m == "PUT"])
    result = ls.check_shipment(ctx, _request(order), None)
    assert result is not None and result.state == RemoteShipmentState.CONFIRMED
    assert len([m for m, _ in state.requests if m == "PUT"]) == puts


def test_check_without_a_trace_says_send_again(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    assert ls.check_shipment(ctx, _request(order), None) is None


def test_a_shipment_the_shop_made_itself_gets_only_the_tracking(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    [shipment] = state.order_shipments(order.id)
    state.mark_shipped(shipment)
    ls.report_shipment(ctx, _request(order))
    assert shipment.tracking_code == "3SKADE1"
    other = state.create_order(shop, [(state.add_variant(shop, sku="B"), 1)])
    [theirs] = state.order_shipments(other.id)
    theirs.tracking_code = "SHOPCODE"
    state.mark_shipped(theirs)
    before = len(state.requests)
    ls.report_shipment(ctx, _request(other))
    assert theirs.tracking_code == "SHOPCODE"
    assert all(m == "GET" for m, _ in state.requests[before:])


def test_a_cancelled_order_refuses_the_shipment(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    state.cancel_order(order)
    with pytest.raises(RejectedByStore) as info:
        ls.report_shipment(ctx, _request(order))
    assert info.value.code == "order_cancelled"


def test_cancel_order_whole_only_and_not_once_shipped(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    with pytest.raises(RejectedByStore, match="whole orders only"):
        ls.cancel_order(ctx, CancelRequest(order_remote_id=str(order.id), order_number=order.number,
                                           lines=(ShipmentRequestLine(remote_line_id="1", quantity=1),)))
    result = ls.cancel_order(ctx, CancelRequest(order_remote_id=str(order.id), order_number=order.number))
    assert result is not None and result.ok and order.status == "cancelled"
    shipped = state.create_order(shop, [(state.add_variant(shop, sku="B"), 1)])
    ls.report_shipment(ctx, _request(shipped))
    with pytest.raises(RejectedByStore, match="has shipped"):
        ls.cancel_order(ctx, CancelRequest(order_remote_id=str(shipped.id), order_number=shipped.number))


def test_an_order_without_shipments_is_marked_shipped_on_the_order(ctx, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    for shipment in state.order_shipments(order.id):
        del state.shipments[shipment.id]
    assert ls.check_shipment(ctx, _request(order), None) is None
    result = ls.report_shipment(ctx, _request(order))
    assert result is not None and result.remote_reference == f"order:{order.id}"
    assert order.shipment_status == "shipped"
    checked = ls.check_shipment(ctx, _request(order), result.remote_reference)
    assert checked is not None and checked.state == RemoteShipmentState.CONFIRMED
