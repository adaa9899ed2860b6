"""Harnesses are found through their own entry-point group and never loaded with the plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kade.errors import UserError
from kade.manager import make_plugin_manager
from kade.testing import Harness
from kade.testing.harnesses import HARNESS_GROUP, available, harness_class, harnesses_for, load_import_string

BUILT_IN = {"bol", "shopify", "woocommerce", "shopware"}


def test_the_built_in_harnesses_are_registered() -> None:
    assert set(available()) >= BUILT_IN
    for name in BUILT_IN:
        cls = harness_class(name)
        assert issubclass(cls, Harness) and cls.platform == name


def test_an_unknown_platform_names_the_group_and_what_is_registered() -> None:
    with pytest.raises(UserError, match=rf"no harness registered for platform 'nope'.*{HARNESS_GROUP}.*bol"):
        harness_class("nope")


def test_a_harness_entry_point_that_is_not_a_harness_is_refused(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "fakeharness.py").write_text("class NotAHarness:\n    pass\n")
    info = tmp_path / "fake_harness-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-harness\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{HARNESS_GROUP}]\nfakeplat = fakeharness:NotAHarness\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fakeplat" in available()
    with pytest.raises(UserError, match="not a kade.testing.Harness subclass"):
        harness_class("fakeplat")


def test_import_strings_are_checked() -> None:
    assert load_import_string("kade.testing.harness:Harness") is Harness
    with pytest.raises(UserError, match="not of the form"):
        load_import_string("kade.testing.harness.Harness")
    with pytest.raises(UserError, match="has no Nope"):
        load_import_string("kade.testing.harness:Nope")


def test_the_demo_gets_one_fresh_harness_per_platform() -> None:
    pm = make_plugin_manager(strict=True)
    first, second = harnesses_for(pm), harnesses_for(pm)
    assert set(first) >= BUILT_IN
    try:
        for name in BUILT_IN:
            assert first[name].platform == name
            assert first[name] is not second[name]
    finally:
        for h in [*first.values(), *second.values()]:
            h.close()


def test_loading_every_plugin_imports_no_simulator_or_web_framework() -> None:
    """A production worker builds the plugin manager; it must not carry Starlette apps."""
    script = textwrap.dedent("""
        import json, sys
        from kade.manager import make_plugin_manager
        pm = make_plugin_manager(strict=True)
        names = sorted(pm.platforms())
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("starlette", "fastapi", "graphql", "uvicorn")
                        or ".simulator" in m or ".harness" in m or m.startswith("kade.sim"))
        print(json.dumps({"platforms": names, "loaded": loaded}))
    """)
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["platforms"]) >= BUILT_IN
    assert result["loaded"] == []
