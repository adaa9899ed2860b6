"""What a platform plugin gives the conformance kit: its simulator and ways to steer it.

A plugin author subclasses ``Harness`` once (a page of code over the simulator's state) and
gets every contract scenario of ``kade.testing.ConformanceSuite`` run against the real core.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SeededOrder:
    """An open order the simulator holds, as the kit needs to know it."""

    remote_id: str
    number: str
    #: remote line id → (sku, quantity) of lines the warehouse ships (no marketplace-fulfilled lines)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreShipment:
    """A shipment as the store recorded it."""

    tracking_code: str | None
    #: remote line id → quantity; empty when the platform records no item list (Shopware)
    lines: dict[str, int] = field(default_factory=dict)


class Harness(ABC):
    """One simulated store account plus the controls the scenarios need."""

    #: the registered platform name
    platform: str
    #: the store's base URL for the connection (a host the kit routes to the simulator)
    base_url: str
    #: every host the plugin calls (API, login...); all are routed to ``app()``
    hosts: tuple[str, ...]
    auth_method: str

    @abstractmethod
    def app(self) -> Any:
        """The simulator's ASGI app, holding this harness's state."""

    @abstractmethod
    def credentials(self) -> dict[str, str]:
        """Valid credentials for ``auth_method``."""

    def settings(self) -> dict[str, str]:
        """Connection settings the platform needs (e.g. a location id)."""
        return {}

    @abstractmethod
    def seed_orders(self, count: int, *, units: int = 2) -> list[SeededOrder]:
        """Create ``count`` open orders, each with ``units`` or more items to ship."""

    @abstractmethod
    def seed_products(self, count: int) -> list[tuple[str, str]]:
        """Create ``count`` products whose stock the store lets us manage: (remote id, sku)."""

    @abstractmethod
    def cancel_order(self, remote_id: str) -> None:
        """Cancel an order store-side (the customer or the shop did it)."""

    @abstractmethod
    def shipments(self, remote_id: str) -> list[StoreShipment]:
        """What the store recorded as shipped for an order."""

    @abstractmethod
    def stock(self, remote_product_id: str) -> int | None:
        """The store's current stock level for a product."""

    @abstractmethod
    def revoke_credentials(self) -> None:
        """Make the store reject the current credentials (a revoked key or consent)."""

    @abstractmethod
    def drop_next_shipment_answer(self) -> None:
        """Apply the next shipment call but drop its answer (a timeout after sending)."""

    @abstractmethod
    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        """Answer the next request with the platform's rate-limit response."""

    def migration_target(self) -> tuple[str, dict[str, str]] | None:
        """Another login method and working credentials for it (None: nothing to migrate to)."""
        return None

    def settle(self) -> None:
        """Let asynchronous store-side processing finish (advance simulator clocks)."""
        return None

    def close(self) -> None:
        """Release what the harness holds."""
        return None
