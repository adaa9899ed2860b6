"""Kade's kit for plugin authors: the conformance suite and the harness it runs against."""

from kade.testing.conformance import ConformanceSuite, World
from kade.testing.harness import Harness, SeededOrder, StoreShipment

__all__ = ["ConformanceSuite", "Harness", "SeededOrder", "StoreShipment", "World"]
