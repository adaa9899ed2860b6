"""A stateful Lightspeed eCom (C-Series) API as an ASGI app, split by concern.

``state`` holds shops, credentials and data; ``ratelimit`` the three windows; ``app`` hosts,
language segment, auth and faults; ``routes`` the resources; ``render`` their JSON;
``webhooks`` signed deliveries.
"""

from __future__ import annotations

from typing import Any

from kade.plugins.lightspeed.simulator.app import LightspeedSimulator
from kade.plugins.lightspeed.simulator.state import LightspeedState


def create_app(state: LightspeedState | None = None, **settings: Any) -> LightspeedSimulator:
    """A simulated API; with no state, one shop on eu1 (``app.state.sim.shops``)."""
    if state is None:
        state = LightspeedState(**settings)
        state.add_shop()
    return LightspeedSimulator(state)


__all__ = ["LightspeedSimulator", "LightspeedState", "create_app"]
