"""The simulator state's foundation: settings, stores, ids and time."""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

from kade.plugins.bol.protocol import PAGE_SIZE
from kade.plugins.bol.simulator.models import (
    DAY,
    DEFAULT_RATE_LIMITS,
    AccessToken,
    AuthCode,
    RefreshToken,
    SimOffer,
    SimOrder,
    SimOrderItem,
    SimProcess,
    SimShipment,
    TokenRequest,
    _b64url,
)
from kade.sim.base import (
    Faults,
    RateLimit,
    RateLimiter,
    ScriptedFaults,
    SimClock,
)


class StateBase:
    """Everything the simulated retailer account holds; the concern mixins add behaviour."""

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        seed: int = 0,
        faults: Faults | None = None,
        rate_limits: dict[str, RateLimit] | None = None,
        page_size: int = PAGE_SIZE,
        process_delay: float = 1.0,
        process_delays: dict[str, float] | None = None,
        access_token_ttl: int = 299,
        code_access_token_ttl: int = 599,
        refresh_token_ttl: float = 365 * DAY,
        rotate_refresh_tokens: bool = True,
    ) -> None:
        self.clock = clock or SimClock()
        self.rng = random.Random(seed)
        self.faults = faults or Faults()
        self.limiter = RateLimiter(self.clock, dict(DEFAULT_RATE_LIMITS if rate_limits is None else rate_limits))
        self.page_size = page_size
        self.process_delay = process_delay
        self.process_delays: dict[str, float] = {"CREATE_OFFER_EXPORT": 5.0, **(process_delays or {})}
        self.access_token_ttl = access_token_ttl
        self.code_access_token_ttl = code_access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self.lock = threading.RLock()

        self.retailer_clients: dict[str, str] = {}
        self.intermediary_clients: dict[str, str] = {}
        self.inactive_clients: set[str] = set()
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.token_requests: list[TokenRequest] = []

        self.offers: dict[str, SimOffer] = {}
        self.orders: dict[str, SimOrder] = {}
        self.shipments: list[SimShipment] = []
        self.processes: dict[str, SimProcess] = {}
        self.reports: dict[str, tuple[float, str]] = {}
        #: every API request as (method, path); tests count calls with it
        self.requests: list[tuple[str, str]] = []
        self.scripted_faults = ScriptedFaults()

        self._ids: dict[str, int] = {}
        self._item_index: dict[str, tuple[SimOrder, SimOrderItem]] = {}

    # -- ids and time ------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def _next_id(self, kind: str, start: int) -> str:
        value = self._ids.get(kind, start) + 1
        self._ids[kind] = value
        return str(value)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _jwt(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "sim"}).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{payload}.{_b64url(self.rng.randbytes(32))}"

