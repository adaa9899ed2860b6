"""A stateful CCV Shop REST API as an ASGI app, split by concern.

``state`` holds the shop (keys, products, combinations, orders); ``signing`` checks request
signatures and signs answers; ``app`` the layers, auth, the per-minute limits and routing;
``routes`` the resources; ``render`` their JSON.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.ccv.simulator.app import CcvSimulator
from kade.plugins.ccv.simulator.state import CcvState


def create_app(state: CcvState | None = None, **settings: Any) -> CcvSimulator:
    """A simulated shop; with no state, an empty one (``app.state.sim``)."""
    return CcvSimulator(state if state is not None else CcvState(**settings))


__all__ = ["CcvSimulator", "CcvState", "create_app"]
