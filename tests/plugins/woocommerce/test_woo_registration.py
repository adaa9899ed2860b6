"""The plugin as pluggy sees it: registration, capabilities, settings and hook dispatch."""

from __future__ import annotations

import pluggy

from kade import hookspecs
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.simulator import WooSimulator, WooState, create_app
from kade.types import ConnectionContext, OrderQuery


def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="woocommerce")
    pm.check_pending()
    return pm


def test_platform_spec() -> None:
    [[spec]] = [list(specs) for specs in manager().hook.kade_register_platforms()]
    assert spec.name == "woocommerce"
    assert spec.auth_methods == ("basic", "oauth1", "wc_auth")
    caps = spec.capabilities
    assert (caps.partial_shipments, caps.tracking) == (True, "every")
    assert (caps.stock_batch_size, caps.webhooks) == (100, True)
    tracking = spec.setting("shipment_tracking_extension")
    assert tracking is not None and tracking.choices == ("auto", "on", "off") and tracking.default == "auto"
    assert spec.setting("webhook_secret") is not None
    assert spec.credential_fields["wc_auth"] == ("consumer_key", "consumer_secret")
    assert spec.simulator is None and spec.harness is None  # found through kade.harnesses instead
    app = create_app(seed=3, wc_version="8.9.0")
    assert isinstance(app, WooSimulator) and app.state.sim.wc_version == "8.9.0"


def test_hooks_dispatch_through_pluggy(sim: WooState, ctx: ConnectionContext) -> None:
    sim.generate_orders(2)
    page = manager().hook.import_orders(ctx=ctx, query=OrderQuery())
    assert len(page.orders) == 2


def test_other_platforms_connections_are_not_answered(ctx: ConnectionContext) -> None:
    other = ConnectionContext(**{**ctx.__dict__, "platform": "shopify"})
    assert manager().hook.check_connection(ctx=other) is None
