"""The plugin registers through the ``kade`` entry point and fits the hook contract."""

from __future__ import annotations

from importlib.metadata import entry_points

import pluggy

from kade import hookspecs
from kade.plugins.shopify import plugin
from kade.plugins.shopify import simulator as sm


def test_platform_spec():
    (spec,) = list(plugin.kade_register_platforms())
    assert spec.name == "shopify"
    assert set(spec.auth_methods) == {"admin_token", "client_credentials"}
    caps = spec.capabilities
    assert caps.partial_shipments and caps.tracking == "every"
    assert caps.stock_batch_size == 250 and caps.webhooks and caps.stock_read and caps.cancel_order
    assert spec.setting("location_id") is not None and spec.setting("shop_domain") is not None
    assert spec.setting("notify_customer").parse("no") is False
    assert spec.credential_fields["client_credentials"] == ("client_id", "client_secret")
    assert spec.simulator is None and spec.harness is None  # found through kade.harnesses instead
    app = sm.create_app(seed=3, catalog_size=2)
    assert isinstance(app.state.sim, sm.SimState) and len(app.state.sim.variants) == 2


def test_entry_point_loads_this_module():
    (ep,) = [ep for ep in entry_points(group="kade") if ep.name == "shopify"]
    assert ep.load() is plugin


def test_hookimpls_match_the_hookspecs(ctx):
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin)
    pm.check_pending()
    implemented = {impl.function.__name__ for hook in pm.get_hookcallers(plugin) for impl in hook.get_hookimpls()}
    assert implemented == {
        "kade_register_platforms",
        "import_orders",
        "read_products",
        "read_stock",
        "push_stock",
        "report_shipment",
        "check_shipment",
        "cancel_order",
        "check_connection",
        "migrate_connection",
        "verify_webhook",
        "parse_webhook",
    }
    assert pm.hook.check_connection(ctx=ctx).ok
