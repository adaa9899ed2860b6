"""Every package folder is listed in pyproject (the folder → import-name mapping needs it)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for top, name in (("core", "kade"), ("plugins", "kade.plugins")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top)
            found.add(".".join([name, *rel.parts]) if rel.parts else name)
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_builtin_platforms_register_through_the_entry_point_group() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = config["project"]["entry-points"]["kade"]
    for name, target in entries.items():
        assert target == f"kade.plugins.{name}.plugin"


def test_builtin_harnesses_register_through_their_own_group() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = config["project"]["entry-points"]["kade.harnesses"]
    assert set(entries) >= {"bol", "shopify", "woocommerce"}
    for name, target in entries.items():
        assert target.startswith(f"kade.plugins.{name}.harness:")


def test_no_simulator_module_is_over_500_lines() -> None:
    modules = sorted((ROOT / "plugins").glob("*/simulator/*.py"))
    assert modules, "simulators are packages: plugins/<platform>/simulator/"
    sizes = {str(m.relative_to(ROOT)): len(m.read_text().splitlines()) for m in modules}
    assert {m: n for m, n in sizes.items() if n > 500} == {}
    assert not list((ROOT / "plugins").glob("*/simulator.py")), "a simulator module next to its package"
