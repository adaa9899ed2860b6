"""Shipments (rule R8: one fulfillment per shipment, nothing else changed) and cancellations."""

from __future__ import annotations

import pytest

from kade.errors import NotFound, OutcomeUnknown, RejectedByStore
from kade.plugins.shopify import plugin
from kade.plugins.shopify import simulator as sm
from kade.types import CancelRequest, RemoteShipmentState, ShipmentRequest, ShipmentRequestLine


def shipment(order, lines, *, tracking="3SKADE0001", shipment_id=1, url=None, carrier="PostNL"):
    return ShipmentRequest(
        shipment_id=shipment_id,
        order_remote_id=sm.gid("Order", order.id),
        order_number=order.name,
        lines=tuple(ShipmentRequestLine(remote_line_id=sm.gid("LineItem", li.id), sku=li.sku, quantity=q)
                    for li, q in lines),
        carrier=carrier,
        tracking_code=tracking,
        tracking_url=url,
        idempotency_key=f"shipment-{shipment_id}",
    )


@pytest.fixture
def order(sim):
    variants = list(sim.variants.values())
    return sim.add_order([(variants[0], 3), (variants[1], 2)])


def fulfilled(order):
    return [[(fl.line_item_id, fl.quantity) for fl in f.lines] for f in order.fulfillments]


def test_two_shipments_make_two_fulfillments_with_only_their_lines(sim, ctx, order):
    a, b = order.lines
    status_before = (order.financial_status, order.cancelled_at, order.closed_at)
    first = plugin.report_shipment(ctx, shipment(order, [(a, 2)], url="https://jouw.postnl.nl/3SKADE0001"))
    assert first.state is RemoteShipmentState.CONFIRMED
    assert first.remote_reference == sm.gid("Fulfillment", order.fulfillments[0].id)
    assert sim.fulfillment_status(order) == "PARTIALLY_FULFILLED"
    second = plugin.report_shipment(ctx, shipment(order, [(a, 1), (b, 2)], tracking="3SKADE0002", shipment_id=2))
    assert second.remote_reference == sm.gid("Fulfillment", order.fulfillments[1].id)
    assert fulfilled(order) == [[(a.id, 2)], [(a.id, 1), (b.id, 2)]]
    assert order.fulfillments[0].tracking == [
        {"company": "PostNL", "number": "3SKADE0001", "url": "https://jouw.postnl.nl/3SKADE0001"}
    ]
    assert order.fulfillments[1].tracking[0]["number"] == "3SKADE0002"
    assert all(f.notify_customer for f in order.fulfillments)
    assert sim.fulfillment_status(order) == "FULFILLED"
    assert (order.financial_status, order.cancelled_at, order.closed_at) == status_before
    mutations = [d for d in sim.documents if d.lstrip().startswith("mutation")]
    assert len(mutations) == 1 and "fulfillmentCreate" in mutations[0]
    assert sim.documents[mutations[0]] == 2


def test_notify_customer_setting_and_shipment_without_tracking(sim, make_ctx, order):
    ctx = make_ctx(settings={"notify_customer": False})
    plugin.report_shipment(ctx, shipment(order, [(order.lines[1], 1)], tracking=None, carrier="Eigen bezorging"))
    (ful,) = order.fulfillments
    assert not ful.notify_customer
    assert ful.tracking == [{"company": "Eigen bezorging", "number": None, "url": None}]


def test_lost_answer_is_an_unknown_outcome_and_check_finds_it(sim, ctx, order):
    request = shipment(order, [(order.lines[0], 1)])
    sim.inject_fault("fulfillmentCreate", "timeout_after")
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, request)
    assert len(order.fulfillments) == 1  # Shopify did apply it
    found = plugin.check_shipment(ctx, request, None)
    assert found is not None and found.state is RemoteShipmentState.CONFIRMED
    assert found.remote_reference == sm.gid("Fulfillment", order.fulfillments[0].id)
    # the core does not send again; a different shipment with the same lines is not mistaken for it
    other = shipment(order, [(order.lines[0], 1)], tracking="3SOTHER", shipment_id=2)
    assert plugin.check_shipment(ctx, other, None) is None
    assert len(order.fulfillments) == 1


def test_lost_request_is_unknown_too_and_check_says_send_again(sim, ctx, order):
    request = shipment(order, [(order.lines[0], 1)])
    sim.inject_fault("fulfillmentCreate", "timeout_before")
    with pytest.raises(OutcomeUnknown):
        plugin.report_shipment(ctx, request)
    assert plugin.check_shipment(ctx, request, None) is None
    plugin.report_shipment(ctx, request)
    assert len(order.fulfillments) == 1


def test_server_error_on_the_mutation_is_an_unknown_outcome(sim, ctx, order):
    sim.inject_fault("fulfillmentCreate", "error")
    with pytest.raises(OutcomeUnknown) as err:
        plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 1)]))
    assert err.value.status_code == 500


def test_check_shipment_by_reference_and_without_tracking(sim, ctx, order):
    request = shipment(order, [(order.lines[1], 2)], tracking=None)
    result = plugin.report_shipment(ctx, request)
    assert plugin.check_shipment(ctx, request, result.remote_reference) == result
    assert plugin.check_shipment(ctx, request, None) == result
    assert plugin.check_shipment(ctx, shipment(order, [(order.lines[1], 1)], tracking=None), None) is None


def test_shipment_for_a_cancelled_order_is_refused_without_sending(sim, ctx, order):
    sim.cancel_order(order)
    before = sim.graphql_requests
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 1)]))
    assert err.value.code == "order_cancelled"
    assert sim.graphql_requests == before + 1  # only the read
    assert order.fulfillments == []


def test_cancellation_racing_the_shipment_is_reported_as_cancelled(sim, ctx, order, monkeypatch):
    execute = sim.execute

    def cancel_first(app, query, variables, operation, **kwargs):
        if "fulfillmentCreate" in query:
            sim.cancel_order(order)
        return execute(app, query, variables, operation, **kwargs)

    monkeypatch.setattr(sim, "execute", cancel_first)
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 1)]))
    assert err.value.code == "order_cancelled"
    assert order.fulfillments == []


def test_more_than_remaining_and_unknown_lines_are_refused(sim, ctx, order):
    plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 2)]))
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 2)], shipment_id=2))
    assert err.value.code == "quantity_exceeds_remaining"
    assert "only 1 left" in err.value.message
    other = sim.add_order([(next(iter(sim.variants.values())), 1)])
    with pytest.raises(RejectedByStore) as err:
        plugin.report_shipment(ctx, shipment(order, [(other.lines[0], 1)], shipment_id=3))
    assert err.value.code == "unknown_line"
    assert len(order.fulfillments) == 1


def test_unknown_order(ctx, order):
    request = shipment(order, [(order.lines[0], 1)]).model_copy(update={"order_remote_id": "gid://shopify/Order/9"})
    with pytest.raises(NotFound):
        plugin.report_shipment(ctx, request)
    with pytest.raises(NotFound):
        plugin.check_shipment(ctx, request, None)


def test_warehouse_cancel_runs_the_async_job(sim, ctx, order, clock):
    request = CancelRequest(order_remote_id=sm.gid("Order", order.id), order_number=order.name)
    result = plugin.cancel_order(ctx, request)
    assert result.ok and result.remote_reference.startswith("gid://shopify/Job/")
    clock.advance(sm.CANCEL_JOB_SECONDS)
    sim.run_due_jobs()
    assert order.cancelled_at is not None and order.cancel_reason == "INVENTORY"
    assert order.financial_status == "REFUNDED"
    again = plugin.cancel_order(ctx, request)  # a retry after a lost answer is harmless
    assert again.ok


def test_warehouse_cancel_refusals(sim, ctx, order):
    with pytest.raises(RejectedByStore) as err:
        plugin.cancel_order(
            ctx,
            CancelRequest(
                order_remote_id=sm.gid("Order", order.id),
                order_number=order.name,
                lines=(ShipmentRequestLine(remote_line_id=sm.gid("LineItem", order.lines[0].id), quantity=1),),
            ),
        )
    assert err.value.code == "partial_cancel_unsupported"
    with pytest.raises(NotFound):
        plugin.cancel_order(ctx, CancelRequest(order_remote_id="gid://shopify/Order/1", order_number="#1"))
    plugin.report_shipment(ctx, shipment(order, [(order.lines[0], 1)]))
    with pytest.raises(RejectedByStore) as err:
        plugin.cancel_order(ctx, CancelRequest(order_remote_id=sm.gid("Order", order.id), order_number=order.name))
    assert err.value.code == "INVALID"
    assert order.cancelled_at is None
