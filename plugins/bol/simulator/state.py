"""The simulated retailer account (``BolSimState``)."""

from __future__ import annotations

from kade.plugins.bol.simulator.processes import ProcessState


class BolSimState(ProcessState):
    """Everything the simulated retailer account holds, plus the knobs tests turn.

    Thread-safe: the app and the test (or demo) thread share it under ``lock``.
    """

