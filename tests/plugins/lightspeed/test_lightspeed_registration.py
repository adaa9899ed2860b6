"""The plugin as Kade sees it: registration, capabilities, the harness entry point, hook routing."""

from __future__ import annotations

from kade.manager import make_plugin_manager
from kade.plugins.lightspeed import plugin
from kade.plugins.lightspeed.harness import LightspeedHarness
from kade.testing.harnesses import harness_class
from kade.types import ConnectionContext, OrderQuery


def test_platform_spec_declares_no_partial_shipments() -> None:
    spec = make_plugin_manager().platform("lightspeed").spec
    caps = spec.capabilities
    assert (caps.partial_shipments, caps.webhooks, caps.stock_read) == (False, True, True)
    assert spec.auth_methods == ("api_key", "app") and spec.default_auth_method == "api_key"
    assert spec.credential_fields["app"] == ("app_key", "app_secret", "shop_token")
    page_size = spec.setting("page_size")
    assert page_size is not None and page_size.default == 250
    assert spec.harness is None  # found through kade.harnesses instead


def test_harness_is_registered_in_its_entry_point_group() -> None:
    assert harness_class("lightspeed") is LightspeedHarness


def test_installed_through_the_kade_entry_point_group() -> None:
    assert "lightspeed" in make_plugin_manager().platforms()


def test_other_platforms_connections_are_not_answered(ctx: ConnectionContext) -> None:
    other = ConnectionContext(**{**ctx.__dict__, "platform": "woocommerce"})
    assert plugin.check_connection(other) is None
    assert plugin.import_orders(other, OrderQuery()) is None
