"""The plugin as Kade sees it: registration, the harness entry point, the pace setting, dispatch."""

from __future__ import annotations

from types import SimpleNamespace

import pluggy
from magento_testkit import Magento

from kade import hookspecs
from kade.app import _requests_per_second
from kade.manager import make_plugin_manager
from kade.plugins.magento import plugin
from kade.plugins.magento.harness import MagentoHarness
from kade.testing.harnesses import available, harness_class
from kade.types import OrderQuery


def manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="magento")
    pm.check_pending()
    return pm


def test_platform_spec() -> None:
    [[spec]] = [list(specs) for specs in manager().hook.kade_register_platforms()]
    assert (spec.name, spec.auth_methods, spec.default_auth_method) == ("magento", ("oauth1", "bearer"), "oauth1")
    caps = spec.capabilities
    assert (caps.partial_shipments, caps.tracking, caps.stock_batch_size, caps.webhooks) == (True, "every", 100, False)
    assert spec.credential_fields["oauth1"] == ("consumer_key", "consumer_secret", "access_token",
                                                "access_token_secret")
    assert spec.setting("stock_api").choices == ("msi", "legacy")  # type: ignore[union-attr]
    assert spec.simulator is None and spec.harness is None  # found through kade.harnesses instead


def test_installed_as_an_entry_point_with_its_harness() -> None:
    assert "magento" in make_plugin_manager().platforms()
    assert "magento" in available() and harness_class("magento") is MagentoHarness


def test_the_pace_setting_overrides_the_capability() -> None:
    def conn(value: object) -> SimpleNamespace:
        return SimpleNamespace(settings={} if value is None else {"requests_per_second": value})

    assert _requests_per_second(conn(None), 10) == 10  # type: ignore[arg-type]
    assert _requests_per_second(conn(3), 10) == 3  # type: ignore[arg-type]
    assert _requests_per_second(conn(0), 10) is None  # type: ignore[arg-type]


def test_other_platforms_connections_are_not_answered(magento: Magento) -> None:
    ctx = magento.ctx()
    other = type(ctx)(**{**ctx.__dict__, "platform": "shopify"})
    assert manager().hook.check_connection(ctx=other) is None
    assert manager().hook.import_orders(ctx=ctx, query=OrderQuery()).orders == ()
