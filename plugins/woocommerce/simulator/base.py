"""The store state's foundation: settings, ids, time, scripted faults and API keys."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from kade.plugins.woocommerce.simulator.models import (
    ApiKey,
    AuthCallback,
    Order,
    Product,
    Webhook,
    WebhookDelivery,
    _version,
)
from kade.sim.base import (
    Faults,
    RateLimit,
    RateLimiter,
    ScriptedFault,
    ScriptedFaults,
    SimClock,
)


class StoreBase:
    """Everything a WooCommerce store holds, plus store settings that change its API behaviour.

    :param wc_version: WooCommerce version; below 5.4 ``dates_are_gmt`` is ignored, below 5.8
        ``modified_after``/``modified_before`` are ignored (WP drops unknown arguments).
    :param timezone: the store's WordPress timezone; non-GMT dates and date filters without
        ``dates_are_gmt`` are in this zone.
    :param shipment_tracking: the Shipment Tracking extension is installed.
    :param rate_limit: host-level limit per client (WooCommerce core has none on ``wc/v3``;
        many hosts put one in front), answered with 429 and ``Retry-After``.
    :param strips_authorization: the host drops the ``Authorization`` header (keys must then
        go in the query string).
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        clock: SimClock | None = None,
        faults: Faults | None = None,
        https: bool = True,
        wc_version: str = "9.4.0",
        timezone: str = "Europe/Amsterdam",
        shipment_tracking: bool = False,
        rate_limit: RateLimit | None = None,
        strips_authorization: bool = False,
        currency: str = "EUR",
    ) -> None:
        self.clock = clock or SimClock()
        self.faults = faults or Faults()
        self.https = https
        self.wc_version = wc_version
        self.timezone = timezone
        self.shipment_tracking = shipment_tracking
        self.strips_authorization = strips_authorization
        self.currency = currency
        self.rng = random.Random(seed)
        self.limiter = RateLimiter(self.clock, {"host": rate_limit} if rate_limit else {})
        self.lock = threading.RLock()
        self.keys: dict[str, ApiKey] = {}
        self.orders: dict[int, Order] = {}
        self.products: dict[int, Product] = {}
        self.webhooks: dict[int, Webhook] = {}
        self.webhook_outbox: list[WebhookDelivery] = []
        self.webhook_log: list[WebhookDelivery] = []
        self.auth_requests: dict[str, dict[str, str]] = {}
        self.auth_callbacks: list[AuthCallback] = []
        #: sends the wc-auth callback POST; None records it and treats it as answered 200
        self.auth_callback_sender: Callable[[str, bytes], int] | None = None
        #: every request served, as (method, path, query params, auth kind); tests read it
        self.requests: list[tuple[str, str, dict[str, str], str]] = []
        self._ids = {"post": 100, "item": 1000, "comment": 5000, "key": 0, "webhook": 0}
        self.scripted_faults = ScriptedFaults()

    # ------------------------------------------------------------------ helpers

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> datetime:
        # WordPress stores dates with second resolution
        return datetime.fromtimestamp(int(self.clock.now()), UTC)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def supports(self, feature: str) -> bool:
        needed = {"dates_are_gmt": (5, 4), "modified_after": (5, 8), "global_unique_id": (9, 2)}[feature]
        return _version(self.wc_version) >= needed

    def local(self, when: datetime | None) -> str | None:
        return None if when is None else when.astimezone(self.tz).replace(tzinfo=None).isoformat(timespec="seconds")

    @staticmethod
    def gmt(when: datetime | None) -> str | None:
        return None if when is None else when.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ scripted faults

    def inject(
        self,
        kind: Literal["error", "rate_limit", "timeout", "timeout_after_apply"],
        path: str = "/",
        *,
        method: str | None = None,
        status: int = 500,
        retry_after: float = 1.0,
        count: int = 1,
    ) -> ScriptedFault:
        """Make the next ``count`` requests matching ``method`` and ``path`` fail in a given way.

        ``error`` answers ``status`` with WordPress's critical-error body; ``rate_limit`` answers
        429 with ``Retry-After``, as a host's limiter does; ``timeout`` drops the request unapplied;
        ``timeout_after_apply`` applies it and drops the answer.
        """
        return self.scripted_faults.add(
            ScriptedFault(kind, path, method, status, count=count, retry_after=retry_after))

    # ------------------------------------------------------------------ keys

    def create_api_key(self, permissions: str = "read_write", *, description: str = "", user_id: int = 1) -> ApiKey:
        """A key as WooCommerce > Settings > Advanced > REST API creates it."""
        with self.lock:
            key = ApiKey(
                key_id=self.next_id("key"),
                user_id=user_id,
                consumer_key="ck_" + secrets.token_hex(20),
                consumer_secret="cs_" + secrets.token_hex(20),
                permissions=permissions,
                description=description,
            )
            self.keys[key.consumer_key] = key
            return key

    def revoke_api_key(self, consumer_key: str) -> None:
        with self.lock:
            self.keys.pop(consumer_key, None)

    # ------------------------------------------------------------------ catalogue

