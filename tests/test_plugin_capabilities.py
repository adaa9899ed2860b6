"""Declared capabilities are checked against the hooks at load; a missing hook is never retried."""

from __future__ import annotations

import pytest
from sqlmodel import select

from kade import hookimpl
from kade.app import Kade
from kade.errors import PluginLoadError
from kade.ingest import import_orders
from kade.manager import PluginLoadWarning, make_plugin_manager
from kade.models import Action, ActionKind, ActionStatus, Notification, Order
from kade.runtime import Runtime
from kade.shipments import cancel_in_store
from kade.types import Capabilities, ConnectionTestResult, PlatformSpec, ShipmentResult, ShipmentState
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform


def _plugin(capabilities: Capabilities, *, shipments: bool = False, checks: bool = False) -> object:
    class Plugin:
        @hookimpl
        def kade_register_platforms(self):
            yield PlatformSpec(name="thin", title="Thin", auth_methods=("api_key",), default_auth_method="api_key",
                               capabilities=capabilities)

        @hookimpl
        def check_connection(self, ctx):
            return ConnectionTestResult(ok=True)

    if shipments:
        Plugin.report_shipment = hookimpl(lambda self, ctx, shipment: ShipmentResult(state=ShipmentState.CONFIRMED))
    if checks:
        Plugin.check_shipment = hookimpl(lambda self, ctx, shipment, remote_reference: None)
    return Plugin()


def test_a_minimal_plugin_claims_no_stock_read_and_no_cancel() -> None:
    caps = Capabilities()
    assert caps.stock_read is False and caps.cancel_order is False and caps.webhooks is False
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(_plugin(caps), "thin")])
    assert "thin" in pm.platforms()


@pytest.mark.parametrize(("caps", "shipments", "missing"), [
    (Capabilities(stock_read=True), False, "read_stock (it declares stock_read=True)"),
    (Capabilities(cancel_order=True), False, "cancel_order (it declares cancel_order=True)"),
    (Capabilities(webhooks=True), False, "verify_webhook (it declares webhooks=True)"),
    (Capabilities(), True, "check_shipment (required with report_shipment)"),
])
def test_a_plugin_missing_a_hook_is_refused_with_one_line_naming_it(caps, shipments, missing) -> None:
    with pytest.raises(PluginLoadError, match="platform 'thin' lacks") as info:
        make_plugin_manager(load_entrypoints=False, strict=True,
                            plugins=[(_plugin(caps, shipments=shipments), "thin")]).platforms()
    assert missing in str(info.value) and "\n" not in str(info.value)
    with pytest.warns(PluginLoadWarning, match="lacks"):
        pm = make_plugin_manager(load_entrypoints=False, plugins=[(_plugin(caps, shipments=shipments), "thin")])
        assert pm.platforms() == {}


def test_report_shipment_with_check_shipment_loads() -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(_plugin(Capabilities(), shipments=True, checks=True),
                                                               "thin")])
    assert pm.platform("thin").supports("check_shipment")


class _NoCancel(FakePlatform):
    cancel_order = None  # type: ignore[assignment]  # this platform cannot cancel orders


def test_an_unsupported_operation_fails_once_and_is_never_retried(settings, database, store) -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(_NoCancel(store, capabilities=Capabilities(
        stock_batch_size=50, stock_read=True)), "fake")])
    kade = Kade(settings, db=database, pm=pm)
    try:
        conn = make_connection(kade)
        store.add_order("S1", [("A", None, 1)])
        import_orders(kade, conn.id, full=True)
        with kade.db.transaction() as session:
            order = session.exec(select(Order).where(Order.remote_id == "S1")).one()
            cancel_in_store(session, order)
        runtime = Runtime(kade).start(threads=1, tick=0)
        try:
            runtime.drain()
        finally:
            runtime.stop()
        with kade.db.session() as session:
            [action] = session.exec(select(Action).where(Action.kind == ActionKind.CANCEL)).all()
            kinds = [n.kind for n in session.exec(select(Notification))]
        assert (action.status, action.attempts, action.error_kind) == (ActionStatus.FAILED, 1, "unsupported")
        assert "action_unsupported" in kinds and "retries_exhausted" not in kinds
    finally:
        kade.close()


def test_removed_capabilities_are_ignored_with_a_warning_not_refused() -> None:
    """``complete_after_all``/``shipment_lines`` were never read: an older plugin passing them still loads."""
    with pytest.warns(DeprecationWarning, match="complete_after_all, shipment_lines"):
        caps = Capabilities(partial_shipments=False, complete_after_all=True, shipment_lines=False)
    assert caps.partial_shipments is False
    assert "complete_after_all" not in Capabilities.model_fields and "shipment_lines" not in Capabilities.model_fields
    with pytest.raises(ValueError, match="not_a_capability"):
        Capabilities(not_a_capability=True)
