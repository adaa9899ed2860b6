"""Finding a platform's harness (simulated store + controls) without loading it in production.

Harnesses register in their own entry-point group, ``kade.harnesses``: the name is the platform
name, the value an import string ``"module:HarnessClass"``. The plugin module itself never
imports its simulator, so a production worker carries no Starlette apps; only the demo, the
conformance kit and tests come here and load one.

A plugin outside this repository registers its harness in its ``pyproject.toml``::

    [project.entry-points."kade.harnesses"]
    acme = "kade_acme.harness:AcmeHarness"
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import warnings
from typing import TYPE_CHECKING, Any

from kade.errors import UserError

if TYPE_CHECKING:
    from kade.manager import KadePluginManager
    from kade.testing.harness import Harness

HARNESS_GROUP = "kade.harnesses"


def _entry_points() -> dict[str, md.EntryPoint]:
    found: dict[str, md.EntryPoint] = {}
    for ep in md.entry_points(group=HARNESS_GROUP):
        found.setdefault(ep.name, ep)
    return found


def available() -> list[str]:
    """Platform names with a registered harness, sorted."""
    return sorted(_entry_points())


def load_import_string(target: str) -> Any:
    """The object named by ``"package.module:Name"`` (the form entry points use)."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"harness import string {target!r} is not of the form 'module:HarnessClass'")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UserError(f"harness import string {target!r}: {module_name} has no {attr}") from None
    return obj


def harness_class(platform: str) -> type[Harness]:
    """The harness class registered for ``platform``; a clear error when there is none."""
    from kade.testing.harness import Harness

    ep = _entry_points().get(platform)
    if ep is None:
        known = ", ".join(available()) or "none"
        raise UserError(f"no harness registered for platform {platform!r} in entry-point group "
                        f"{HARNESS_GROUP!r} (registered: {known})")
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, Harness)):
        raise UserError(f"harness entry point {platform} = {ep.value!r} is not a kade.testing.Harness subclass")
    return cls


def make_harness(platform: str) -> Harness:
    """A fresh harness (its own simulated store) for ``platform``."""
    return harness_class(platform)()


def harnesses_for(pm: KadePluginManager) -> dict[str, Harness]:
    """A fresh harness for every installed platform that has one (the demo's stores).

    A platform whose spec still carries the deprecated ``harness`` factory is honoured, with a
    warning, until it registers in ``kade.harnesses``.
    """
    registered = set(available())
    found: dict[str, Harness] = {}
    for name, platform in sorted(pm.platforms().items()):
        if name in registered:
            found[name] = make_harness(name)
        elif platform.spec.harness is not None:
            warnings.warn(f"platform {name!r} gives its harness through PlatformSpec.harness, which is "
                          f"deprecated: register it in the {HARNESS_GROUP!r} entry-point group",
                          DeprecationWarning, stacklevel=2)
            found[name] = platform.spec.harness()
    return found
