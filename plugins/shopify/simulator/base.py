"""The shop state's foundation: settings, stores, ids and time."""

from __future__ import annotations

import random
import threading
import uuid
from typing import Any

from graphql import (
    DocumentNode,
)

from kade.plugins.shopify.simulator.models import (
    BUCKET_SIZE,
    DEFAULT_ADMIN_TOKEN,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_SHOP,
    MAX_QUERY_COST,
    RESTORE_RATE,
    TOKEN_LIFETIME,
    Bucket,
    Job,
    Level,
    Location,
    Order,
    Variant,
    WebhookDelivery,
)
from kade.sim.base import Faults, ScriptedFaults, SimClock


class StateBase:
    """Everything the simulated shop knows; the concern mixins add behaviour."""


    def __init__(
        self,
        *,
        seed: int = 0,
        clock: SimClock | None = None,
        shop_domain: str = DEFAULT_SHOP,
        shop_name: str = "Kade Sim Shop",
        currency: str = "EUR",
        bucket_size: float = BUCKET_SIZE,
        restore_rate: float = RESTORE_RATE,
        max_query_cost: int = MAX_QUERY_COST,
        token_lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.clock = clock or SimClock()
        self.shop_domain = shop_domain
        self.shop_name = shop_name
        self.currency = currency
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.max_query_cost = max_query_cost
        self.token_lifetime = token_lifetime
        self.read_all_orders = False
        self._ids: dict[str, int] = {}
        # auth: admin tokens never expire; app tokens expire (token -> (app, expires_at))
        self.admin_tokens: dict[str, str] = {DEFAULT_ADMIN_TOKEN: "legacy-custom-app"}
        self.apps: dict[str, str] = {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
        self.app_tokens: dict[str, tuple[str, float]] = {}
        self.webhook_secret = DEFAULT_CLIENT_SECRET
        self.locations: dict[int, Location] = {}
        self.variants: dict[int, Variant] = {}
        self._by_item: dict[int, Variant] = {}
        self.levels: dict[tuple[int, int], Level] = {}
        self.orders: dict[int, Order] = {}
        self.jobs: dict[str, Job] = {}
        self.buckets: dict[str, Bucket] = {}
        self.webhooks: list[WebhookDelivery] = []
        #: every distinct GraphQL document received, with how often (tests validate them all)
        self.documents: dict[str, int] = {}
        self.adjustment_groups: list[dict[str, Any]] = []
        self.throttled = 0
        self.graphql_requests = 0
        #: random faults (``create_app(faults=...)``) and scripted ones (``inject_fault``)
        self.faults = Faults()
        self.scripted_faults = ScriptedFaults()
        self._validated: dict[str, tuple[DocumentNode | None, list[Any]]] = {}
        #: how far a ``"throttle"`` fault leaves the bucket short, in seconds of restore
        self.throttle_pause = 0.05
        self.add_location("Warehouse")

    # ------------------------------------------------------------------ basics

    def now(self) -> int:
        return int(self.clock.now())

    def next_id(self, kind: str) -> int:
        with self.lock:
            value = self._ids.get(kind, 1000) + 1
            self._ids[kind] = value
            return value

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    @property
    def primary_location(self) -> Location:
        return next(iter(self.locations.values()))

    def add_location(self, name: str, *, active: bool = True) -> Location:
        with self.lock:
            loc = Location(self.next_id("Location"), name, active)
            self.locations[loc.id] = loc
            return loc
