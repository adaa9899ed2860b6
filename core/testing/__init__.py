"""Kade's kit for plugin authors: the conformance suite and the harness it runs against.

``Harness`` is imported eagerly (plugins ship one for the demo); the suite needs pytest and is
imported only when asked for.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers see the real classes; at run time pytest is imported only when asked
    from kade.testing.conformance import ConformanceSuite
    from kade.testing.world import World

from kade.testing.harness import ControlUnsupported, Harness, SeededOrder, StoreShipment, WebhookDelivery

__all__ = ["ConformanceSuite", "ControlUnsupported", "Harness", "SeededOrder", "StoreShipment", "WebhookDelivery",
           "World"]


def __getattr__(name: str) -> Any:
    if name == "ConformanceSuite":
        from kade.testing import conformance

        return conformance.ConformanceSuite
    if name == "World":
        from kade.testing import world

        return world.World
    raise AttributeError(name)
