"""Plugin loading through entry points, isolation of broken plugins, routing and conflicts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kade import hookimpl
from kade.errors import PlatformConflictError, PluginLoadError, UserError
from kade.manager import (
    BatchSizeError,
    PluginContractError,
    PluginLoadWarning,
    UnsupportedOperation,
    make_plugin_manager,
)
from kade.types import ConnectionTestResult, PlatformSpec
from tests.support.dists import PLATFORM_SOURCE, install_plugin_dist


@pytest.fixture(autouse=True)
def _forget_modules():
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("kadetest_"):
            del sys.modules[name]


def _only(pm, names):
    return {p: pm.platform(p) for p in names}


def test_plugin_from_installed_distribution_loads_through_entry_point(tmp_path: Path, monkeypatch) -> None:
    install_plugin_dist(tmp_path, monkeypatch, dist="kade-acme", module="kadetest_acme",
                        source=PLATFORM_SOURCE.format(name="acme", marker="acme here"), version="2.3.4")
    pm = make_plugin_manager(disabled=["bol", "shopify", "woocommerce"])
    platform = pm.platform("acme")
    assert platform.distribution == "kade-acme"
    info = next(i for i in pm.plugin_infos() if i.name == "kadetest_acme")
    assert (info.distribution, info.version, info.platforms) == ("kade-acme", "2.3.4", ["acme"])
    assert "check_connection" in info.hooks


def test_broken_plugin_is_skipped_with_a_warning_naming_it(tmp_path: Path, monkeypatch) -> None:
    install_plugin_dist(tmp_path / "a", monkeypatch, dist="kade-good", module="kadetest_good",
                        source=PLATFORM_SOURCE.format(name="good", marker="ok"))
    install_plugin_dist(tmp_path / "b", monkeypatch, dist="kade-broken", module="kadetest_broken",
                        source="raise RuntimeError('boom at import')\n")
    with pytest.warns(PluginLoadWarning, match=r"'kadetest_broken' \(from kade-broken\).*boom at import"):
        pm = make_plugin_manager(disabled=["bol", "shopify", "woocommerce"])
    assert "good" in pm.platforms()
    assert [f.name for f in pm.failures] == ["kadetest_broken"]


def test_strict_mode_turns_a_broken_plugin_into_an_error(tmp_path: Path, monkeypatch) -> None:
    install_plugin_dist(tmp_path, monkeypatch, dist="kade-broken", module="kadetest_broken2",
                        source="import not_a_module_anywhere\n")
    with pytest.raises(PluginLoadError, match="kadetest_broken2.*kade-broken.*not_a_module_anywhere"):
        make_plugin_manager(strict=True, disabled=["bol", "shopify", "woocommerce"])


def test_hookimpl_without_spec_is_rejected_by_check_pending(tmp_path: Path, monkeypatch) -> None:
    source = PLATFORM_SOURCE.format(name="typo", marker="x") + (
        "\n@hookimpl\ndef import_order(ctx, query):\n    return None\n"
    )
    install_plugin_dist(tmp_path, monkeypatch, dist="kade-typo", module="kadetest_typo", source=source)
    with pytest.warns(PluginLoadWarning, match="kadetest_typo.*import_order"):
        pm = make_plugin_manager(disabled=["bol", "shopify", "woocommerce"])
    assert "typo" not in pm.platforms()


def test_two_plugins_claiming_one_platform_name_are_rejected_naming_both(tmp_path: Path, monkeypatch) -> None:
    install_plugin_dist(tmp_path / "a", monkeypatch, dist="kade-shop-one", module="kadetest_one",
                        source=PLATFORM_SOURCE.format(name="clash", marker="one"))
    install_plugin_dist(tmp_path / "b", monkeypatch, dist="kade-shop-two", module="kadetest_two",
                        source=PLATFORM_SOURCE.format(name="clash", marker="two"))
    pm = make_plugin_manager(disabled=["bol", "shopify", "woocommerce"])
    with pytest.raises(PlatformConflictError) as info:
        pm.platforms()
    assert "kade-shop-one" in str(info.value) and "kade-shop-two" in str(info.value)


def test_disabled_plugin_is_blocked(tmp_path: Path, monkeypatch) -> None:
    install_plugin_dist(tmp_path, monkeypatch, dist="kade-acme", module="kadetest_blocked",
                        source=PLATFORM_SOURCE.format(name="blocked", marker="x"))
    pm = make_plugin_manager(disabled=["kadetest_blocked", "bol", "shopify", "woocommerce"])
    with pytest.raises(UserError, match="unknown platform 'blocked'"):
        pm.platform("blocked")


class _Platform:
    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0

    @hookimpl
    def kade_register_platforms(self):
        return [PlatformSpec(name=self.name, title=self.name, auth_methods=("k",), default_auth_method="k")]

    @hookimpl
    def check_connection(self, ctx):
        self.calls += 1
        return ConnectionTestResult(ok=True, message=self.name)


def test_a_call_reaches_only_its_own_platform() -> None:
    a, b, c = _Platform("alpha"), _Platform("beta"), _Platform("gamma")
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(a, "a"), (b, "b"), (c, "c")])
    result = pm.platform("beta").check_connection(ctx=None)  # type: ignore[arg-type]
    assert result.message == "beta"
    assert (a.calls, b.calls, c.calls) == (0, 1, 0)


def test_operation_a_plugin_lacks_is_a_clear_error() -> None:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(_Platform("alpha"), "a")])
    with pytest.raises(UnsupportedOperation, match="'alpha' does not support push_stock"):
        pm.platform("alpha").push_stock(ctx=None, updates=[])  # type: ignore[arg-type]


def test_wrong_return_type_is_a_contract_error() -> None:
    class Bad(_Platform):
        @hookimpl
        def check_connection(self, ctx):
            return {"ok": True}

    pm = make_plugin_manager(load_entrypoints=False, plugins=[(Bad("bad"), "bad")])
    with pytest.raises(PluginContractError, match="returned dict, expected ConnectionTestResult"):
        pm.platform("bad").check_connection(ctx=None)  # type: ignore[arg-type]


def test_the_core_exceeding_a_batch_size_is_not_blamed_on_the_plugin() -> None:
    from kade.types import StockUpdate

    platform = _Platform("alpha")
    pm = make_plugin_manager(load_entrypoints=False, plugins=[(platform, "a")])
    limit = pm.platform("alpha").spec.capabilities.stock_batch_size
    updates = [StockUpdate(remote_product_id=f"P{i}", quantity=1) for i in range(limit + 1)]
    with pytest.raises(BatchSizeError, match="exceed alpha's batch size") as caught:
        pm.platform("alpha").push_stock(ctx=None, updates=updates)  # type: ignore[arg-type]
    assert not isinstance(caught.value, PluginContractError)
    assert platform.calls == 0


def test_invalid_platform_name_is_refused() -> None:
    with pytest.raises(PluginLoadError, match="not valid"):
        PlatformSpec(name="No Spaces!", title="x", auth_methods=("k",), default_auth_method="k")


def test_every_hook_is_documented_with_its_parameters() -> None:
    """The hookspec docstrings are the contract (datasette's test_plugin_hooks_are_documented)."""
    import inspect

    from kade import hookspecs

    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction):
        if not hasattr(fn, "kade_spec"):
            continue
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 40, f"{name} has no real docstring"
        for param in inspect.signature(fn).parameters:
            if param == "ctx":
                continue
            assert param in doc or f":param {param}:" in doc, f"{name}: parameter {param} undocumented"
