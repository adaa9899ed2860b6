"""Shipments as order notes (rule R8), the Shipment Tracking extension, lost answers and
cancellations."""

from __future__ import annotations

import httpx
import pytest

from kade.errors import NotFound, OutcomeUnknown, RejectedByStore
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import Order, WooState, create_app
from kade.sim.base import Faults
from kade.sim.transport import SyncASGITransport
from kade.types import CancelRequest, ConnectionContext, RemoteShipmentState, ShipmentRequest, ShipmentRequestLine


def shipment(
    order: Order, *, n: int = 1, completes: bool = True, code: str | None = "3SKADE000001", **kw
) -> ShipmentRequest:
    line = order.line_items[0]
    return ShipmentRequest(
        shipment_id=n,
        order_remote_id=str(order.id),
        order_number=order.number,
        lines=(ShipmentRequestLine(remote_line_id=str(line.id), sku=line.sku, quantity=1),),
        carrier=kw.pop("carrier", "PostNL"),
        tracking_code=code,
        tracking_url=kw.pop("tracking_url", f"https://postnl.nl/tracktrace/?B={code}" if code else None),
        first=n == 1,
        completes_order=completes,
        idempotency_key=f"shp-{order.id}-{n}",
        **kw,
    )


def kade_notes(order: Order) -> list[str]:
    return [n.note for n in order.notes if "[Kade shipment" in n.note]


@pytest.fixture
def order(sim: WooState) -> Order:
    a, b = sim.add_product(sku="A"), sim.add_product(sku="B")
    return sim.create_order([(a, 1), (b, 1)])


def test_one_note_per_shipment_and_completed_only_after_the_last(order: Order, ctx: ConnectionContext) -> None:
    first = plugin.report_shipment(ctx, shipment(order, n=1, completes=False, code="3SKADE01"))
    assert first is not None and first.state is RemoteShipmentState.CONFIRMED
    assert order.status == "processing"
    second = plugin.report_shipment(ctx, shipment(order, n=2, completes=True, code="3SKADE02"))
    assert second is not None and second.state is RemoteShipmentState.CONFIRMED
    assert order.status == "completed"

    notes = kade_notes(order)
    assert len(notes) == 2
    assert "Shipped with PostNL, tracking code 3SKADE01." in notes[0]
    assert "https://postnl.nl/tracktrace/?B=3SKADE01" in notes[0]
    assert "partial shipment: 1 × A" in notes[0]
    assert "3SKADE02" in notes[1] and "partial" not in notes[1]
    assert all(n.customer_note for n in order.notes if "[Kade shipment" in n.note)
    assert first.remote_reference == f"note:{order.notes[0].id}"


def test_shipment_for_a_cancelled_order_is_refused(sim: WooState, order: Order, ctx: ConnectionContext) -> None:
    sim.set_order_status(order, "cancelled")
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order))
    assert err.value.code == "order_cancelled"
    assert kade_notes(order) == []


def test_shipment_for_an_unknown_order_is_not_found(sim: WooState, ctx: ConnectionContext) -> None:
    ghost = sim.create_order([(sim.add_product(sku="X"), 1)])
    del sim.orders[ghost.id]
    with pytest.raises(NotFound) as err:
        plugin.report_shipment(ctx, shipment(ghost))
    assert err.value.code == "woocommerce_rest_shop_order_invalid_id"


def test_tracking_extension_is_used_when_installed(clock, http_factory, key, make_context) -> None:
    sim = WooState(clock=clock, shipment_tracking=True)
    key = sim.create_api_key()
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        ctx = make_context(http, key, clock=clock)
        order = sim.create_order([(sim.add_product(sku="A"), 2)])
        result = plugin.report_shipment(ctx, shipment(order, code="3SX1", tracking_url=None, carrier="PostNL"))
        [tracking] = order.trackings
        assert (tracking.tracking_provider, tracking.tracking_number) == ("PostNL", "3SX1")
        assert (
            result is not None
            and result.remote_reference == f"note:{order.notes[0].id},tracking:{tracking.tracking_id}"
        )
        assert len(kade_notes(order)) == 1 and order.status == "completed"

        custom = sim.create_order([(sim.add_product(sku="B"), 1)])
        plugin.report_shipment(
            ctx, shipment(custom, code="JVGL1", carrier="Budbee", tracking_url="https://bud.bee/JVGL1")
        )
        [item] = custom.trackings
        assert (item.custom_tracking_provider, item.custom_tracking_link) == ("Budbee", "https://bud.bee/JVGL1")
        probes = [r for r in sim.requests if r[0] == "GET" and "shipment-trackings" in r[1]]
        assert len(probes) == 1, "the extension probe is remembered per connection"


def test_without_the_extension_only_notes_are_written(
    sim: WooState, order: Order, ctx: ConnectionContext, http: httpx.Client, key
) -> None:
    probe = http.get(
        f"/wp-json/wc-shipment-tracking/v3/orders/{order.id}/shipment-trackings",
        auth=(key.consumer_key, key.consumer_secret),
    )
    assert probe.status_code == 404 and probe.json()["code"] == "rest_no_route"
    plugin.report_shipment(ctx, shipment(order))
    assert len(kade_notes(order)) == 1 and order.trackings == []


def test_extension_forced_on_but_missing_is_a_clear_refusal(order: Order, ctx_factory) -> None:
    ctx = ctx_factory(settings={"shipment_tracking_extension": "on"})
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order))
    assert err.value.code == "rest_no_route"
    assert "Shipment Tracking extension is not installed" in err.value.message


def test_lost_answer_then_check_finds_the_note_and_nothing_is_duplicated(
    sim: WooState, order: Order, ctx: ConnectionContext
) -> None:
    request = shipment(order, completes=True)
    sim.faults = Faults(timeout_after_apply_rate=1.0, paths=(f"/wp-json/wc/v3/orders/{order.id}/notes",))
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, request)
    assert len(kade_notes(order)) == 1 and order.status == "processing"  # applied, answer lost

    sim.faults = Faults()
    found = plugin.check_shipment(ctx, request, None)
    assert found is not None and found.state is RemoteShipmentState.CONFIRMED
    assert order.status == "completed", "check finishes the half-applied report"
    again = plugin.check_shipment(ctx, request, None)
    assert again is not None
    assert len(kade_notes(order)) == 1
    assert sum("to Completed" in n.note for n in order.notes) == 1


def test_timeout_before_apply_leaves_no_trace_so_resending_is_safe(
    sim: WooState, order: Order, ctx: ConnectionContext
) -> None:
    request = shipment(order)
    sim.faults = Faults(timeout_rate=1.0, paths=(f"/wp-json/wc/v3/orders/{order.id}/notes",))
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, request)
    sim.faults = Faults()
    assert plugin.check_shipment(ctx, request, None) is None
    plugin.report_shipment(ctx, request)
    assert len(kade_notes(order)) == 1 and order.status == "completed"


def test_check_finds_a_tracking_item_by_its_code(clock, make_context) -> None:
    sim = WooState(clock=clock, shipment_tracking=True)
    key = sim.create_api_key()
    order = sim.create_order([(sim.add_product(sku="A"), 1)])
    request = shipment(order, code="3SLOST")
    sim.faults = Faults(timeout_after_apply_rate=1.0, paths=(f"/wp-json/wc-shipment-tracking/v3/orders/{order.id}",))
    with httpx.Client(transport=SyncASGITransport(create_app(sim)), base_url="https://shop.example") as http:
        ctx = make_context(http, key, clock=clock, settings={"shipment_tracking_extension": "on"})
        with pytest.raises(OutcomeUnknown):
            plugin.report_shipment(ctx, request)
        sim.faults = Faults()
        result = plugin.check_shipment(ctx, request, None)
    assert result is not None and result.state is RemoteShipmentState.CONFIRMED
    assert len(order.trackings) == 1 and len(kade_notes(order)) == 1
    assert order.status == "completed"


def test_cancel_order(sim: WooState, order: Order, ctx: ConnectionContext) -> None:
    result = plugin.cancel_order(ctx, CancelRequest(order_remote_id=str(order.id), order_number=order.number))
    assert result is not None and result.ok and order.status == "cancelled"
    with pytest.raises(RejectedByStore) as err:
        plugin.cancel_order(
            ctx,
            CancelRequest(
                order_remote_id=str(order.id),
                order_number=order.number,
                lines=(ShipmentRequestLine(remote_line_id="1", quantity=1),),
            ),
        )
    assert err.value.code == "partial_cancel_unsupported"


def test_invalid_status_is_rejected_by_the_store(order: Order, http: httpx.Client, key) -> None:
    response = http.put(
        f"/wp-json/wc/v3/orders/{order.id}", json={"status": "shipped"}, auth=(key.consumer_key, key.consumer_secret)
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "rest_invalid_param"
    assert body["data"]["params"]["status"].startswith("status is not one of pending, processing, on-hold")


def test_order_notes_route_requires_note(order: Order, http: httpx.Client, key) -> None:
    response = http.post(
        f"/wp-json/wc/v3/orders/{order.id}/notes",
        json={"customer_note": True},
        auth=(key.consumer_key, key.consumer_secret),
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "rest_missing_callback_param",
        "message": "Missing parameter(s): note",
        "data": {"status": 400, "params": ["note"]},
    }


def test_check_recognises_a_note_with_the_tracking_code_from_an_earlier_integration(
    sim: WooState, order: Order, ctx: ConnectionContext, http: httpx.Client, key
) -> None:
    http.post(
        f"/wp-json/wc/v3/orders/{order.id}/notes",
        json={"note": "Verzonden met PostNL: 3SKADE000001"},
        auth=(key.consumer_key, key.consumer_secret),
    )
    found = plugin.check_shipment(ctx, shipment(order, completes=False), None)
    assert found is not None and found.state is RemoteShipmentState.CONFIRMED
    assert plugin.check_shipment(ctx, shipment(order, code="3SKADE0000011"), None) is None
