"""CCV registers through the entry points, its harness through its own group, with R8's capabilities."""

from __future__ import annotations

from kade.manager import make_plugin_manager
from kade.plugins.ccv.harness import CcvHarness
from kade.testing.harnesses import harness_class


def test_the_platform_and_its_harness_are_registered() -> None:
    spec = make_plugin_manager(strict=True).platform("ccv").spec
    caps = spec.capabilities
    assert (caps.partial_shipments, caps.tracking) == (False, "first")
    assert caps.stock_read and caps.cancel_order and not caps.webhooks
    assert spec.auth_methods == ("api_key", "app")
    assert spec.credential_fields["app"] == ("public_key", "secret_key")
    assert harness_class("ccv") is CcvHarness
