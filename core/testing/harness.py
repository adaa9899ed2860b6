"""What a platform plugin gives the conformance kit: its simulator and ways to steer it.

A plugin author subclasses ``Harness`` once (a page of code over the simulator's state) and
gets every contract scenario of ``kade.testing.ConformanceSuite`` run against the real core.

Every fault control arms something the simulator must *do* to the plugin's next matching
request. The kit checks both sides: the core's outcome (actions done, no exhausted retries)
and ``unfired_faults()`` (what was armed but never happened), so a control that does nothing
fails the scenario instead of passing it. A control the platform truly cannot offer raises
``ControlUnsupported`` with the reason; the kit reports the scenario as skipped with that reason
— unless the plugin declares the capability the control tests (webhooks), then it fails.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


class ControlUnsupported(Exception):
    """Raised by a harness control the platform cannot have; the message says why."""


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


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery exactly as the store would POST it to Kade."""

    headers: dict[str, str]
    body: bytes


class Harness(ABC):
    """One simulated store account plus the controls the scenarios need."""

    #: the registered platform name
    platform: str
    #: the store's base URL for the connection (a host the kit routes to the simulator)
    base_url: str
    #: every host the plugin calls (API, login...); all are routed to ``app()``
    hosts: tuple[str, ...]
    auth_method: str

    # -- the account ---------------------------------------------------------------------------

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
    def seed_shipped_order(self) -> SeededOrder:
        """Create an order the store already has as fully shipped (the shop owner shipped it).

        The plugin must report it as shipped (``RemoteOrderStatus.SHIPPED`` or ``quantity_shipped`` on
        every line), so the warehouse is never asked to ship it again.
        """

    @abstractmethod
    def seed_malformed_order(self) -> str:
        """Put one order the plugin cannot translate among the open orders; return its remote id.

        Malformed the way real stores go wrong (a line with no quantity, a negative quantity, a
        missing id...): the plugin must put it in the page's ``rejected`` with a reason and
        import the rest of the page.
        """

    @abstractmethod
    def seed_products(self, count: int) -> list[tuple[str, str]]:
        """Create ``count`` products whose stock the store lets us manage: (remote id, sku)."""

    # -- what the store did or does ------------------------------------------------------------

    @abstractmethod
    def cancel_order(self, remote_id: str) -> None:
        """Cancel an order store-side (the customer or the shop did it).

        From then on the store refuses shipments for it the way the real store does; the plugin
        raises ``RejectedByStore(code="order_cancelled")`` for that refusal.
        """

    @abstractmethod
    def order_cancelled(self, remote_id: str) -> bool:
        """Whether the store now has the order as cancelled (after a warehouse cancel)."""

    @abstractmethod
    def shipments(self, remote_id: str) -> list[StoreShipment]:
        """What the store recorded as shipped for an order."""

    @abstractmethod
    def stock(self, remote_product_id: str) -> int | None:
        """The store's current stock level for a product."""

    @abstractmethod
    def set_store_stock(self, remote_product_id: str, quantity: int) -> None:
        """Change a product's stock store-side (edited in the shop's admin: drift for the nightly check)."""

    # -- faults: each arms one thing the simulator does to the plugin's next matching request --

    @abstractmethod
    def unfired_faults(self) -> list[str]:
        """A description of every fault armed through a control below that has not fired yet."""

    @abstractmethod
    def revoke_credentials(self) -> None:
        """Make the store reject the current credentials (a revoked key or consent)."""

    @abstractmethod
    def drop_next_shipment_answer(self) -> None:
        """Apply the next shipment call but drop its answer (a timeout after sending)."""

    @abstractmethod
    def rate_limit_next_request(self, retry_after: float = 0.05) -> None:
        """Answer the next API request with the platform's rate-limit response (429 + Retry-After)."""

    @abstractmethod
    def expire_access_token(self) -> None:
        """End the lifetime of the access token the plugin holds now, the credentials staying valid.

        The store answers the next request carrying that token with its "token expired" answer;
        the plugin must obtain a new token and carry on (never ``AuthRejected``). Raise
        ``ControlUnsupported`` when the platform has no short-lived tokens (API keys).
        """

    @abstractmethod
    def time_out_next_read(self) -> None:
        """The next request that only reads store data gets no answer (``SimulatedTimeout``).

        Login/token requests do not count. The plugin lets the error reach the core (which maps
        it to a transient error) or raises ``TransientError``; the read is retried.
        """

    @abstractmethod
    def time_out_next_write(self) -> None:
        """The next request that changes store data times out before the store applies it.

        The simulator raises ``kade.sim.base.SimulatedTimeout`` before touching its state (the
        in-process transport turns it into ``httpx.ReadTimeout``). The plugin cannot know it was
        not applied: it raises ``OutcomeUnknown`` (``kade.httpkit.send`` does), the core asks
        ``check_shipment`` first, finds nothing and sends again. Login/token requests do not count.
        """

    # -- webhooks (only for platforms declaring ``Capabilities.webhooks``) ---------------------

    def webhook_delivery(self, remote_id: str, *, topic: str = "order_updated") -> WebhookDelivery:
        """A correctly signed delivery the store would send for a change of this order.

        Each call is a new delivery (its own delivery id); the kit replays and tampers with it.
        """
        raise ControlUnsupported(f"{self.platform} sends no webhooks")

    # -- the rest ------------------------------------------------------------------------------

    def migration_target(self) -> tuple[str, dict[str, str]] | None:
        """Another login method and working credentials for it (None: nothing to migrate to)."""
        return None

    def settle(self) -> None:
        """Let asynchronous store-side processing finish (advance simulator clocks)."""
        return None

    def close(self) -> None:
        """Release what the harness holds."""
        return None
