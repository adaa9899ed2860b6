"""Install throw-away plugin distributions on sys.path so entry points find them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


def install_plugin_dist(
    root: Path, monkeypatch: pytest.MonkeyPatch, *, dist: str, module: str, source: str,
    entry_name: str | None = None, version: str = "1.0.0",
) -> None:
    """Write ``module.py`` and a ``<dist>.dist-info`` with a ``kade`` entry point into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[kade]\n{entry_name or module} = {module}\n")
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(root))


PLATFORM_SOURCE = """
from kade import hookimpl
from kade.types import PlatformSpec, ConnectionTestResult

@hookimpl
def kade_register_platforms():
    yield PlatformSpec(name="{name}", title="{name} shop", auth_methods=("api_key",),
                       default_auth_method="api_key", credential_fields={{"api_key": ("api_key",)}})

@hookimpl
def check_connection(ctx):
    return ConnectionTestResult(ok=True, message="{marker}")
"""
