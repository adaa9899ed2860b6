"""A stateful, strict simulator of the Bol.com Retailer API v10 and bol's login host.

It exists so the plugin, the demo and the benchmarks run against something that behaves like
the real service where it hurts: short-lived JWTs and rotating refresh tokens, the vendor media
type, 50-order pages with ``{}`` for an empty page, asynchronous processing behind 202 +
process status, business failures that only show up in the process status, per-endpoint rate
limits with ``Retry-After``, problem bodies, and injected faults (5xx, timeouts, answers dropped
after the work was done).

One retailer per state. Both hosts (``login.bol.com`` and ``api.bol.com``) are served by the
same app; clients reach it in-process through ``kade.sim.transport.SyncASGITransport`` or on a
port through ``kade.sim.server.BackgroundServer``.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import math
import random
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from kade.plugins.bol.protocol import CANCEL_REASONS, CSV_TYPE, JSON_TYPE, PAGE_SIZE
from kade.plugins.bol.transporters import TRANSPORTER_CODES
from kade.sim.base import (
    Faults,
    RateLimit,
    RateLimiter,
    ScriptedFault,
    ScriptedFaults,
    SimClock,
    SimulatedTimeout,
)

PROBLEM_TYPE = "https://api.bol.com/problems"

#: Per-endpoint limits from bol's machine-readable rate-limit list (see shared/platforms §1.8).
#: Process status is not listed there; it gets a generous bucket so polling is never the bottleneck.
DEFAULT_RATE_LIMITS: dict[str, RateLimit] = {
    "orders:list": RateLimit(25, 60.0),
    "orders:detail": RateLimit(25, 1.0),
    "orders:cancel": RateLimit(25, 1.0),
    "shipments:list": RateLimit(25, 60.0),
    "shipments:create": RateLimit(25, 1.0),
    "offers:update": RateLimit(50, 1.0),
    "offers:export:create": RateLimit(9, 3600.0),
    "offers:export:get": RateLimit(9, 3600.0),
    "process-status": RateLimit(100, 1.0),
}


CSV_COLUMNS = (
    "offerId",
    "ean",
    "conditionName",
    "conditionCategory",
    "conditionComment",
    "bundlePricesPrice",
    "fulfilmentDeliveryCode",
    "stockAmount",
    "onHoldByRetailer",
    "fulfilmentType",
    "mutationDateTime",
    "referenceCode",
    "economicOperatorId",
)

DAY = 86_400.0
PROCESS_RETENTION = 48 * 3600.0
REPORT_RETENTION = 24 * 3600.0
AUTH_CODE_TTL = 600.0


def iso(ts: float) -> str:
    """Bol's date-time format (ISO 8601 with offset, whole seconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --------------------------------------------------------------------------------------------
# State


@dataclass
class SimOffer:
    offer_id: str
    ean: str
    reference: str | None
    title: str
    price: Decimal
    stock: int = 0
    managed_by_retailer: bool = True
    fulfilment: Literal["FBR", "FBB"] = "FBR"
    on_hold: bool = False
    mutated_at: float = 0.0


@dataclass
class SimOrderItem:
    order_item_id: str
    offer: SimOffer
    quantity: int
    unit_price: Decimal
    fulfilment: Literal["FBR", "FBB"]
    quantity_shipped: int = 0
    quantity_cancelled: int = 0
    cancellation_request: bool = False
    changed_at: float = 0.0

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.quantity_shipped - self.quantity_cancelled

    @property
    def fulfilment_status(self) -> str:
        return "OPEN" if self.open_quantity > 0 else "HANDLED"


@dataclass
class SimOrder:
    order_id: str
    placed_at: float
    items: list[SimOrderItem]
    customer: dict[str, str]
    pickup_point: bool = False
    #: served verbatim by the detail endpoint instead of the generated body (malformed orders)
    detail_override: dict[str, Any] | None = None


@dataclass
class SimShipment:
    shipment_id: str
    order_id: str
    created_at: float
    reference: str | None
    items: list[tuple[str, int]]
    transport_id: str
    transporter_code: str | None
    track_and_trace: str | None
    shipping_label_id: str | None = None


@dataclass
class SimProcess:
    process_id: str
    event_type: str
    description: str
    created_at: float
    ready_at: float
    entity_id: str | None
    #: runs when the process completes; returns an error message for FAILURE, None for SUCCESS
    action: Callable[[SimProcess], str | None] = field(repr=False)
    status: str = "PENDING"
    error_message: str | None = None
    completed_at: float | None = None


@dataclass
class AccessToken:
    client_id: str
    expires_at: float
    #: the consent (refresh-token chain) the token belongs to; None for client credentials
    chain_id: str | None = None


@dataclass
class RefreshToken:
    client_id: str
    chain_id: str
    expires_at: float
    active: bool = True


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    expires_at: float
    used: bool = False


@dataclass
class TokenRequest:
    grant_type: str
    client_id: str | None
    at: float
    status: int


class BolSimState:
    """Everything the simulated retailer account holds, plus the knobs tests turn.

    Thread-safe: the app and the test (or demo) thread share it under ``lock``.
    """

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

    # -- credentials -------------------------------------------------------------------------

    def add_retailer_client(self, client_id: str, client_secret: str) -> None:
        """Register a retailer's own API key pair (client-credentials flow)."""
        with self.lock:
            self.retailer_clients[client_id] = client_secret

    def add_intermediary_client(self, client_id: str, client_secret: str) -> None:
        """Register a partner app allowed to use the authorization-code flow."""
        with self.lock:
            self.intermediary_clients[client_id] = client_secret

    def deactivate_client(self, client_id: str) -> None:
        """Make the account inactive: API calls with its tokens get 403."""
        with self.lock:
            self.inactive_clients.add(client_id)

    def issue_auth_code(self, client_id: str, redirect_uri: str) -> str:
        """What the seller's "Allow" click produces: a short-lived, single-use code."""
        with self.lock:
            if client_id not in self.intermediary_clients:
                raise ValueError(f"{client_id!r} is not a registered intermediary client")
            code = _b64url(self.rng.randbytes(12))
            self.auth_codes[code] = AuthCode(client_id, redirect_uri, self.now() + AUTH_CODE_TTL)
            return code

    def token_request_count(self, grant_type: str | None = None, *, ok_only: bool = True) -> int:
        with self.lock:
            return sum(
                1
                for r in self.token_requests
                if (grant_type is None or r.grant_type == grant_type) and (not ok_only or r.status == 200)
            )

    def _issue_access(self, client_id: str, ttl: int, chain_id: str | None) -> str:
        now = self.now()
        token = self._jwt({"sub": client_id, "iat": int(now), "exp": int(now + ttl), "jti": self._uuid()})
        self.access_tokens[token] = AccessToken(client_id, now + ttl, chain_id)
        return token

    def _issue_refresh(self, client_id: str, chain_id: str, expires_at: float) -> str:
        token = self._jwt({"sub": client_id, "exp": int(expires_at), "jti": self._uuid(), "typ": "refresh"})
        self.refresh_tokens[token] = RefreshToken(client_id, chain_id, expires_at)
        return token

    def grant(
        self, grant_type: str, client_id: str | None, client_secret: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Handle ``POST /token``; returns (status, JSON body) as login.bol.com would."""
        with self.lock:
            status, body = self._grant(grant_type, client_id, client_secret, form)
            self.token_requests.append(TokenRequest(grant_type, client_id, self.now(), status))
            return status, body

    def _grant(
        self, grant_type: str, client_id: str | None, client_secret: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        bad_client = (401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        if client_id is None or client_secret is None:
            return bad_client
        known = {**self.retailer_clients, **self.intermediary_clients}
        if known.get(client_id) != client_secret:
            return bad_client
        now = self.now()
        if grant_type == "client_credentials":
            if client_id not in self.retailer_clients:
                return 400, {"error": "unauthorized_client", "error_description": "Grant type not allowed"}
            token = self._issue_access(client_id, self.access_token_ttl, None)
            return 200, {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.access_token_ttl,
                "scope": "RETAILER",
            }
        if client_id not in self.intermediary_clients:
            return 400, {"error": "unauthorized_client", "error_description": "Grant type not allowed"}
        if grant_type == "authorization_code":
            code = self.auth_codes.get(form.get("code", ""))
            if (
                code is None
                or code.used
                or code.client_id != client_id
                or code.expires_at <= now
                or code.redirect_uri != form.get("redirect_uri")
            ):
                return 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            code.used = True
            chain_id = self._uuid()
            refresh = self._issue_refresh(client_id, chain_id, now + self.refresh_token_ttl)
        elif grant_type == "refresh_token":
            record = self.refresh_tokens.get(form.get("refresh_token", ""))
            if record is None or record.client_id != client_id or not record.active:
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            if record.expires_at <= now:
                return 400, {"error": "invalid_grant", "error_description": "Refresh token expired"}
            chain_id = record.chain_id
            refresh = form["refresh_token"]
            if self.rotate_refresh_tokens:
                # only the newest refresh token of a consent works (bol's "method 2")
                for other in self.refresh_tokens.values():
                    if other.chain_id == chain_id:
                        other.active = False
                refresh = self._issue_refresh(client_id, chain_id, record.expires_at)
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": f"{grant_type!r} not supported"}
        token = self._issue_access(client_id, self.code_access_token_ttl, chain_id)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.code_access_token_ttl,
            "refresh_token": refresh,
            "scope": "offline_access",
        }

    def revoke_consent(self, refresh_token: str) -> None:
        """The seller withdrew the partner's access: the whole refresh chain stops working."""
        with self.lock:
            record = self.refresh_tokens[refresh_token]
            for other in self.refresh_tokens.values():
                if other.chain_id == record.chain_id:
                    other.active = False
            for token in self.access_tokens.values():
                if token.chain_id == record.chain_id:
                    token.expires_at = 0.0

    # -- catalogue and orders ----------------------------------------------------------------

    def add_offer(
        self,
        ean: str | None = None,
        *,
        reference: str | None = None,
        title: str = "",
        price: Decimal | str = "19.99",
        stock: int = 0,
        fulfilment: Literal["FBR", "FBB"] = "FBR",
        offer_id: str | None = None,
    ) -> SimOffer:
        with self.lock:
            ean = ean or f"87{self.rng.randrange(10**10, 10**11)}"
            offer = SimOffer(
                offer_id=offer_id or self._uuid(),
                ean=ean,
                reference=reference,
                title=title or f"Product {ean}",
                price=Decimal(price),
                stock=stock,
                fulfilment=fulfilment,
                mutated_at=self.now(),
            )
            self.offers[offer.offer_id] = offer
            return offer

    def add_order(
        self,
        lines: Sequence[tuple[SimOffer, int]],
        *,
        cancellation_request: bool = False,
        placed_at: float | None = None,
        order_id: str | None = None,
    ) -> SimOrder:
        """Place an order; each line's fulfilment method is its offer's."""
        with self.lock:
            now = self.now()
            placed = now if placed_at is None else placed_at
            order = SimOrder(
                order_id=order_id or self._next_id("order", 1_100_000_000),
                placed_at=placed,
                items=[],
                customer=self._customer(),
            )
            for offer, quantity in lines:
                item = SimOrderItem(
                    order_item_id=self._next_id("item", 2_200_000_000),
                    offer=offer,
                    quantity=quantity,
                    unit_price=offer.price,
                    fulfilment=offer.fulfilment,
                    cancellation_request=cancellation_request and offer.fulfilment == "FBR",
                    changed_at=placed,
                )
                order.items.append(item)
                self._item_index[item.order_item_id] = (order, item)
            self.orders[order.order_id] = order
            return order

    def _customer(self) -> dict[str, str]:
        first = self.rng.choice(["Anna", "Bram", "Chantal", "Daan", "Eva", "Fleur", "Gijs", "Henk"])
        surname = self.rng.choice(["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Peeters", "Maes"])
        city, zip_code, country = self.rng.choice(
            [("Utrecht", "3511AB", "NL"), ("Amsterdam", "1012JS", "NL"), ("Gent", "9000", "BE")]
        )
        return {
            "firstName": first,
            "surname": surname,
            "streetName": self.rng.choice(["Kerkstraat", "Dorpsstraat", "Stationsweg"]),
            "houseNumber": str(self.rng.randrange(1, 200)),
            "zipCode": zip_code,
            "city": city,
            "countryCode": country,
            "email": f"{_b64url(self.rng.randbytes(6)).lower()}@verkopen.test.bol.com",
        }

    def generate(self, n_orders: int, *, n_offers: int | None = None) -> list[SimOrder]:
        """Add ``n_orders`` orders deterministically (from the state's seed).

        The mix: mostly retailer-fulfilled (FBR), some fully bol-fulfilled (FBB), some mixed,
        some with a customer cancellation request.
        """
        with self.lock:
            count = n_offers if n_offers is not None else max(10, n_orders // 5)
            fbr = [o for o in self.offers.values() if o.fulfilment == "FBR"]
            fbb = [o for o in self.offers.values() if o.fulfilment == "FBB"]
            for i in range(count):
                kind: Literal["FBR", "FBB"] = "FBB" if i % 5 == 4 else "FBR"
                offer = self.add_offer(
                    reference=f"SKU-{len(self.offers) + 1:05d}",
                    stock=self.rng.randrange(0, 120),
                    price=f"{self.rng.randrange(199, 9999) / 100:.2f}",
                    fulfilment=kind,
                )
                (fbb if kind == "FBB" else fbr).append(offer)
            if not fbr or not fbb:
                raise ValueError("generate() needs at least one FBR and one FBB offer")
            start = self.now() - n_orders * 60.0
            made = []
            for i in range(n_orders):
                roll = self.rng.random()
                lines: list[tuple[SimOffer, int]] = []
                if roll < 0.1:  # fully fulfilled by bol
                    lines = [(self.rng.choice(fbb), self.rng.randint(1, 2))]
                elif roll < 0.25:  # mixed
                    lines = [(self.rng.choice(fbr), self.rng.randint(1, 3)), (self.rng.choice(fbb), 1)]
                else:
                    for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
                        lines.append((self.rng.choice(fbr), self.rng.randint(1, 3)))
                made.append(self.add_order(lines, cancellation_request=0.25 <= roll < 0.32, placed_at=start + i * 60.0))
            return made

    def item(self, order_item_id: str) -> SimOrderItem:
        return self._item_index[order_item_id][1]

    def request_cancellation(self, order_item_id: str) -> None:
        """The customer asks to cancel an item before it ships."""
        with self.lock:
            item = self.item(order_item_id)
            item.cancellation_request = True
            item.changed_at = self.now()

    def cancel_item(self, order_item_id: str) -> None:
        """Bol (or the customer) cancels the item's open quantity."""
        with self.lock:
            item = self.item(order_item_id)
            item.quantity_cancelled += item.open_quantity
            item.cancellation_request = False
            item.changed_at = self.now()

    def shipments_for(self, order_id: str) -> list[SimShipment]:
        with self.lock:
            return [s for s in self.shipments if s.order_id == order_id]

    def count_requests(self, method: str, path_prefix: str = "/") -> int:
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and p.startswith(path_prefix))

    def inject(
        self,
        kind: Literal["error", "timeout", "timeout_after_apply", "slow"],
        path: str = "/",
        *,
        method: str | None = None,
        status: int = 503,
        count: int = 1,
        seconds: float = 0.0,
    ) -> None:
        """Make the next ``count`` requests to ``path`` fail in a given way."""
        self.scripted_faults.add(
            ScriptedFault(kind, re.escape(path), method, status, count=count, seconds=seconds))

    # -- asynchronous processing ---------------------------------------------------------------

    def _start_process(
        self,
        event_type: str,
        description: str,
        entity_id: str | None,
        action: Callable[[SimProcess], str | None],
    ) -> SimProcess:
        now = self.now()
        delay = self.process_delays.get(event_type, self.process_delay)
        process = SimProcess(
            process_id=self._next_id("process", 1_000_000),
            event_type=event_type,
            description=description,
            created_at=now,
            ready_at=now + delay,
            entity_id=entity_id,
            action=action,
        )
        self.processes[process.process_id] = process
        return process

    def settle(self) -> None:
        """Complete every process whose time has come, in the order they were started."""
        with self.lock:
            now = self.now()
            for process in list(self.processes.values()):
                if process.status == "PENDING" and process.ready_at <= now:
                    error = process.action(process)
                    process.status = "FAILURE" if error else "SUCCESS"
                    process.error_message = error
                    process.completed_at = now
                elif process.completed_at is not None and process.completed_at + PROCESS_RETENTION < now:
                    del self.processes[process.process_id]
            for report_id, (created, _) in list(self.reports.items()):
                if created + REPORT_RETENTION < now:
                    del self.reports[report_id]

    def process_json(self, process: SimProcess, base_url: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "processStatusId": process.process_id,
            "eventType": process.event_type,
            "description": process.description,
            "status": process.status,
            "createTimestamp": iso(process.created_at),
            "links": [
                {
                    "rel": "self",
                    "href": f"{base_url.rstrip('/')}/shared/process-status/{process.process_id}",
                    "method": "GET",
                }
            ],
        }
        if process.entity_id is not None:
            body["entityId"] = process.entity_id
        if process.error_message:
            body["errorMessage"] = process.error_message
        return body

    # -- business rules, applied when a process completes ---------------------------------------

    def _apply_shipment(self, request: dict[str, Any]) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            transport = request.get("transport")
            code = transport.get("transporterCode") if isinstance(transport, dict) else None
            if code is not None and code not in TRANSPORTER_CODES:
                return (
                    f"Transporter code '{code}' is not valid. Allowed values: {', '.join(sorted(TRANSPORTER_CODES))}."
                )
            planned: list[tuple[SimOrderItem, int]] = []
            order_id: str | None = None
            for entry in request["orderItems"]:
                item_id = entry["orderItemId"]
                found = self._item_index.get(item_id)
                if found is None:
                    return f"Order item {item_id} does not exist for this retailer."
                order, item = found
                if order_id is not None and order.order_id != order_id:
                    return "Order item id's must belong to the same order."
                order_id = order.order_id
                if item.fulfilment != "FBR":
                    return f"Order item {item_id} is fulfilled by bol and cannot be shipped by the retailer."
                if item.open_quantity == 0:
                    if item.quantity_cancelled > 0:
                        return f"Order item {item_id} could not be shipped: the order item has been cancelled."
                    return f"Order item {item_id} could not be shipped: it has already been shipped."
                quantity = entry.get("quantity", item.open_quantity)
                if quantity > item.open_quantity:
                    return (
                        f"Order item {item_id} could not be shipped: quantity {quantity} exceeds the open "
                        f"quantity {item.open_quantity}."
                    )
                planned.append((item, quantity))
            assert order_id is not None
            now = self.now()
            for item, quantity in planned:
                item.quantity_shipped += quantity
                item.cancellation_request = False
                item.changed_at = now
            self.shipments.append(
                SimShipment(
                    shipment_id=self._next_id("shipment", 3_300_000_000),
                    order_id=order_id,
                    created_at=now,
                    reference=request.get("shipmentReference"),
                    items=[(item.order_item_id, quantity) for item, quantity in planned],
                    transport_id=self._next_id("transport", 4_400_000_000),
                    transporter_code=code,
                    track_and_trace=transport.get("trackAndTrace") if isinstance(transport, dict) else None,
                    shipping_label_id=request.get("shippingLabelId"),
                )
            )
            return None

        return run

    def _apply_cancellation(self, item_id: str) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            found = self._item_index.get(item_id)
            if found is None:
                return f"Order item {item_id} does not exist for this retailer."
            item = found[1]
            if item.fulfilment != "FBR":
                return f"Order item {item_id} is fulfilled by bol and cannot be cancelled by the retailer."
            if item.open_quantity == 0:
                return f"Order item {item_id} could not be cancelled: it has already been shipped or cancelled."
            self.cancel_item(item_id)
            return None

        return run

    def _apply_stock(self, offer_id: str, amount: int, managed: bool) -> Callable[[SimProcess], str | None]:
        def run(process: SimProcess) -> str | None:
            offer = self.offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} does not exist."
            offer.stock = amount
            offer.managed_by_retailer = managed
            offer.mutated_at = self.now()
            return None

        return run

    def _apply_export(self, process: SimProcess) -> str | None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for offer in self.offers.values():
            mutated = datetime.fromtimestamp(offer.mutated_at, UTC)
            writer.writerow(
                [
                    offer.offer_id,
                    offer.ean,
                    "NEW",
                    "NEW",
                    "",
                    f"{offer.price:.2f}",
                    "VVB" if offer.fulfilment == "FBB" else "1-2d",
                    offer.stock,
                    "true" if offer.on_hold else "false",
                    offer.fulfilment,
                    mutated.strftime("%Y-%m-%d %H:%M:%S.") + f"{mutated.microsecond // 10000:02d} UTC",
                    offer.reference or "",
                    "",
                ]
            )
        report_id = self._uuid()
        self.reports[report_id] = (self.now(), out.getvalue())
        process.entity_id = report_id
        return None

    # -- JSON views ------------------------------------------------------------------------------

    def reduced_order_json(self, order: SimOrder, items: Iterable[SimOrderItem]) -> dict[str, Any]:
        return {
            "orderId": order.order_id,
            "orderPlacedDateTime": iso(order.placed_at),
            "orderItems": [
                {
                    "orderItemId": item.order_item_id,
                    "ean": item.offer.ean,
                    "fulfilmentMethod": item.fulfilment,
                    "fulfilmentStatus": item.fulfilment_status,
                    "quantity": item.quantity,
                    "quantityShipped": item.quantity_shipped,
                    "quantityCancelled": item.quantity_cancelled,
                    "cancellationRequest": item.cancellation_request,
                    "latestChangedDateTime": iso(item.changed_at),
                }
                for item in items
            ],
        }

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        if order.detail_override is not None:
            return order.detail_override
        c = order.customer
        address = {
            "salutation": "UNKNOWN",
            "firstName": c["firstName"],
            "surname": c["surname"],
            "streetName": c["streetName"],
            "houseNumber": c["houseNumber"],
            "zipCode": c["zipCode"],
            "city": c["city"],
            "countryCode": c["countryCode"],
            "email": c["email"],
        }
        placed = datetime.fromtimestamp(order.placed_at, UTC).date()
        return {
            "orderId": order.order_id,
            "pickupPoint": order.pickup_point,
            "orderPlacedDateTime": iso(order.placed_at),
            "shipmentDetails": {**address, "language": "nl"},
            "billingDetails": dict(address),
            "orderItems": [
                {
                    "orderItemId": item.order_item_id,
                    "cancellationRequest": item.cancellation_request,
                    "fulfilment": {
                        "method": item.fulfilment,
                        "distributionParty": "BOL" if item.fulfilment == "FBB" else "RETAILER",
                        "latestDeliveryDate": (placed + timedelta(days=2)).isoformat(),
                        "expiryDate": (placed + timedelta(days=5)).isoformat(),
                        "timeFrameType": "REGULAR",
                    },
                    "offer": {
                        "offerId": item.offer.offer_id,
                        **({"reference": item.offer.reference} if item.offer.reference else {}),
                    },
                    "product": {"ean": item.offer.ean, "title": item.offer.title},
                    "quantity": item.quantity,
                    "quantityShipped": item.quantity_shipped,
                    "quantityCancelled": item.quantity_cancelled,
                    "unitPrice": float(item.unit_price),
                    "totalPrice": float(item.unit_price * item.quantity),
                    "discounts": [],
                    "commission": float((item.unit_price * item.quantity * Decimal("0.15")).quantize(Decimal("0.01"))),
                    "additionalServices": [],
                    "latestChangedDateTime": iso(item.changed_at),
                }
                for item in order.items
            ],
        }

    def shipment_json(self, shipment: SimShipment) -> dict[str, Any]:
        order = self.orders[shipment.order_id]
        return {
            "shipmentId": shipment.shipment_id,
            "shipmentDateTime": iso(shipment.created_at),
            "shipmentReference": shipment.reference or "",
            "order": {"orderId": order.order_id, "orderPlacedDateTime": iso(order.placed_at)},
            "shipmentItems": [
                {"orderItemId": item_id, "ean": self.item(item_id).offer.ean} for item_id, _ in shipment.items
            ],
            "transport": {"transportId": shipment.transport_id},
        }


# --------------------------------------------------------------------------------------------
# HTTP plumbing


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    instance: str = "",
    violations: Sequence[tuple[str, str]] = (),
    headers: dict[str, str] | None = None,
    media_type: str = JSON_TYPE,
) -> Response:
    """Bol's problem body (``Problem`` in the spec), in the vendor media type."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE,
        "title": title,
        "status": status,
        "detail": detail,
        "host": "Instance-sim",
        "violations": [{"name": name, "reason": reason} for name, reason in violations],
    }
    if instance:
        body["instance"] = instance
    return Response(json.dumps(body), status, headers=headers, media_type=media_type)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status, media_type=JSON_TYPE)


def _invalid_value(name: str, value: object, allowed: Iterable[str]) -> tuple[str, str]:
    return name, f"Request contains invalid value(s): '{value}', allowed values: {', '.join(allowed)}."


@dataclass
class Call:
    """One authenticated API request, as a handler sees it."""

    method: str
    url: str
    base_url: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: Any
    client_id: str
    headers: dict[str, str]


Handler = Callable[[BolSimState, Call], Response]


def _endpoint(bucket: str, handler: Handler, *, accept: str = JSON_TYPE) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler with what the gateway does first: auth, media types, rate limits."""

    async def endpoint(request: Request) -> Response:
        sim: BolSimState = request.app.state.sim
        raw = await request.body()
        url = str(request.url)
        with sim.lock:
            sim.requests.append((request.method, request.url.path))
            sim.settle()
            client_id, denied = _authenticate(sim, request.headers.get("authorization", ""), url)
            if denied is not None:
                return denied
            assert client_id is not None
            accepted = [part.split(";")[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
            if accept not in accepted:
                return problem(406, "Not Acceptable", f"The Accept header must be {accept}.", instance=url)
            body: Any = None
            if request.method in ("POST", "PUT"):
                content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type != JSON_TYPE:
                    return problem(
                        415, "Unsupported Media Type", f"The Content-Type must be {JSON_TYPE}.", instance=url
                    )
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    return problem(400, "Bad Request", "The request body is not valid JSON.", instance=url)
            allowed, retry_after, remaining = sim.limiter.hit(bucket, client_id)
            rule = sim.limiter.limits.get(bucket)
            limit_headers = {}
            seconds = max(1, math.ceil(retry_after))
            if rule is not None:
                limit_headers = {
                    "X-RateLimit-Limit": str(rule.limit),
                    "X-RateLimit-Remaining": str(remaining),
                    # seconds until the window frees a slot (a whole window while there is room)
                    "X-RateLimit-Reset": str(seconds if not allowed else math.ceil(rule.window)),
                }
            if not allowed:
                return problem(
                    429,
                    "Too Many Requests",
                    f"Too many requests, retry in {seconds} seconds.",
                    instance=url,
                    headers={**limit_headers, "Retry-After": str(seconds)},
                )
            call = Call(
                method=request.method,
                url=url,
                base_url=str(request.base_url),
                path_params={k: str(v) for k, v in request.path_params.items()},
                query=dict(request.query_params),
                body=body,
                client_id=client_id,
                headers=dict(request.headers),
            )
            response = handler(sim, call)
            response.headers.update(limit_headers)
            response.headers["X-Request-ID"] = sim._uuid()
            return response

    return endpoint


def _authenticate(sim: BolSimState, header: str, url: str) -> tuple[str | None, Response | None]:
    if not header.startswith("Bearer "):
        return None, problem(
            401, "Unauthorized", "Full authentication is required to access this resource.", instance=url
        )
    record = sim.access_tokens.get(header[len("Bearer ") :].strip())
    if record is None:
        return None, problem(401, "Unauthorized", "JWT could not be verified.", instance=url)
    now = sim.now()
    if now > record.expires_at + 1.0:  # bol allows 1 s of clock skew
        late = int((now - record.expires_at) * 1000)
        return None, problem(
            401,
            "Expired JWT",
            f"JWT expired at {iso(record.expires_at)}. Current time: {iso(now)}, a difference of {late} "
            "milliseconds.  Allowed clock skew: 1000 milliseconds.",
            instance=url,
        )
    if record.client_id in sim.inactive_clients:
        return None, problem(
            403, "Forbidden", "Account is not active, access denied. Please contact partner service.", instance=url
        )
    return record.chain_id or record.client_id, None


def _page(call: Call, violations: list[tuple[str, str]]) -> int:
    raw = call.query.get("page", "1")
    try:
        page = int(raw)
    except ValueError:
        page = 0
    if page < 1:
        violations.append(("page", f"Request contains invalid value(s): '{raw}', must be at least 1."))
    return page


# --------------------------------------------------------------------------------------------
# Handlers


def get_orders(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    method = call.query.get("fulfilment-method", "FBR")
    if method not in ("FBR", "FBB", "ALL"):
        violations.append(_invalid_value("fulfilment-method", method, ("FBR", "FBB", "ALL")))
    status = call.query.get("status", "OPEN")
    if status not in ("OPEN", "SHIPPED", "ALL"):
        violations.append(_invalid_value("status", status, ("OPEN", "SHIPPED", "ALL")))
    changed_after: float | None = None
    change_date: date | None = None
    if "change-interval-minute" in call.query:
        raw = call.query["change-interval-minute"]
        if not raw.isdigit() or not 1 <= int(raw) <= 60:
            violations.append(
                ("change-interval-minute", f"Request contains invalid value(s): '{raw}', must be between 1 and 60.")
            )
        else:
            changed_after = sim.now() - int(raw) * 60
    if "latest-change-date" in call.query:
        raw = call.query["latest-change-date"]
        try:
            change_date = date.fromisoformat(raw)
        except ValueError:
            violations.append(
                ("latest-change-date", f"Request contains invalid value(s): '{raw}', expected a date (yyyy-MM-dd).")
            )
        else:
            if change_date < (datetime.fromtimestamp(sim.now(), UTC) - timedelta(days=92)).date():
                violations.append(("latest-change-date", "Up to 3 months of history is supported."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)

    def keep(item: SimOrderItem) -> bool:
        if method != "ALL" and item.fulfilment != method:
            return False
        if changed_after is not None and item.changed_at < changed_after:
            return False
        return change_date is None or datetime.fromtimestamp(item.changed_at, UTC).date() == change_date

    def order_matches(items: list[SimOrderItem]) -> bool:
        if not items:
            return False
        if status == "OPEN":
            return any(i.open_quantity > 0 for i in items)
        if status == "SHIPPED":
            return any(i.quantity_shipped > 0 for i in items)
        return True

    selected = []
    for order in sorted(sim.orders.values(), key=lambda o: (o.placed_at, o.order_id)):
        items = [i for i in order.items if keep(i)]
        if order_matches(items):
            selected.append((order, items))
    chunk = selected[(page - 1) * sim.page_size : page * sim.page_size]
    if not chunk:
        return _json({})  # bol's quirk: an empty list is an empty object
    return _json({"orders": [sim.reduced_order_json(order, items) for order, items in chunk]})


def get_order(sim: BolSimState, call: Call) -> Response:
    order = sim.orders.get(call.path_params["order_id"])
    if order is None:
        return problem(404, "Not Found", f"Order {call.path_params['order_id']} not found.", instance=call.url)
    return _json(sim.order_json(order))


def cancel_order_item(sim: BolSimState, call: Call) -> Response:
    body = call.body
    violations: list[tuple[str, str]] = []
    items = body.get("orderItems") if isinstance(body, dict) else None
    if not isinstance(items, list) or not 1 <= len(items) <= 1:
        violations.append(("orderItems", "size must be between 1 and 1"))
    else:
        entry = items[0]
        if not isinstance(entry, dict) or not isinstance(entry.get("orderItemId"), str) or not entry["orderItemId"]:
            violations.append(("orderItems[0].orderItemId", "must not be empty"))
        reason = entry.get("reasonCode") if isinstance(entry, dict) else None
        if reason not in CANCEL_REASONS:
            violations.append(_invalid_value("orderItems[0].reasonCode", reason, CANCEL_REASONS))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    item_id = items[0]["orderItemId"]  # type: ignore[index]
    process = sim._start_process(
        "CANCEL_ORDER", f"Cancel order item {item_id}.", item_id, sim._apply_cancellation(item_id)
    )
    return _json(sim.process_json(process, call.base_url), 202)


def create_shipment(sim: BolSimState, call: Call) -> Response:
    body = call.body
    violations: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "The request body must be a JSON object.", instance=call.url)
    items = body.get("orderItems")
    if not isinstance(items, list) or not 1 <= len(items) <= 100:
        violations.append(("orderItems", "size must be between 1 and 100"))
    else:
        for n, entry in enumerate(items):
            if not isinstance(entry, dict) or not isinstance(entry.get("orderItemId"), str) or not entry["orderItemId"]:
                violations.append((f"orderItems[{n}].orderItemId", "must not be empty"))
            elif "quantity" in entry and (not isinstance(entry["quantity"], int) or entry["quantity"] < 1):
                violations.append((f"orderItems[{n}].quantity", "must be greater than or equal to 1"))
    reference = body.get("shipmentReference")
    if reference is not None and (not isinstance(reference, str) or not 1 <= len(reference) <= 90):
        violations.append(("shipmentReference", "Only 'null' or non-empty strings up to 90 characters accepted."))
    transport = body.get("transport")
    label = body.get("shippingLabelId")
    if transport is None and label is None:
        violations.append(("transport", "Either transport or shippingLabelId is required."))
    elif transport is not None and label is not None:
        violations.append(("shippingLabelId", "Omit shippingLabelId when transport is given."))
    elif transport is not None and (
        not isinstance(transport, dict)
        or not isinstance(transport.get("transporterCode"), str)
        or not transport["transporterCode"]
    ):
        violations.append(("transport.transporterCode", "must not be empty"))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    first = body["orderItems"][0]["orderItemId"]
    process = sim._start_process(
        "CREATE_SHIPMENT", f"Create shipment for order item {first}.", first, sim._apply_shipment(body)
    )
    return _json(sim.process_json(process, call.base_url), 202)


def get_shipments(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    method = call.query.get("fulfilment-method")
    order_id = call.query.get("order-id")
    if method is not None and method not in ("FBR", "FBB"):
        violations.append(_invalid_value("fulfilment-method", method, ("FBR", "FBB")))
    if method is not None and order_id is not None:
        violations.append(("order-id", "order-id is only valid without fulfilment-method."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    cutoff = sim.now() - 92 * DAY
    shipments = [s for s in sim.shipments if s.created_at >= cutoff]
    if order_id is not None:
        shipments = [s for s in shipments if s.order_id == order_id]
    else:
        wanted = method or "FBR"
        shipments = [s for s in shipments if sim.item(s.items[0][0]).fulfilment == wanted]
    shipments.sort(key=lambda s: (s.created_at, int(s.shipment_id)), reverse=True)
    chunk = shipments[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if not chunk:
        return _json({})
    return _json({"shipments": [sim.shipment_json(s) for s in chunk]})


def update_offer_stock(sim: BolSimState, call: Call) -> Response:
    offer_id = call.path_params["offer_id"]
    body = call.body
    violations: list[tuple[str, str]] = []
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "The request body must be a JSON object.", instance=call.url)
    amount = body.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= 999:
        violations.append(("amount", "must be a whole number between 0 and 999"))
    managed = body.get("managedByRetailer")
    if not isinstance(managed, bool):
        violations.append(("managedByRetailer", "must not be null"))
    offer = sim.offers.get(offer_id)
    if offer is None:
        violations.append(("offer-id", f"Offer {offer_id} does not exist."))
    elif offer.fulfilment == "FBB":
        violations.append(("offer-id", f"Offer {offer_id} is fulfilled by bol; its stock is managed by bol."))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    assert isinstance(amount, int) and isinstance(managed, bool)
    process = sim._start_process(
        "UPDATE_OFFER_STOCK",
        f"Update stock for offer {offer_id}.",
        offer_id,
        sim._apply_stock(offer_id, amount, managed),
    )
    return _json(sim.process_json(process, call.base_url), 202)


def create_offer_export(sim: BolSimState, call: Call) -> Response:
    body = call.body
    if not isinstance(body, dict) or body.get("format") != "CSV":
        fmt = body.get("format") if isinstance(body, dict) else None
        return problem(
            400,
            "Bad Request",
            "Validation error",
            instance=call.url,
            violations=[_invalid_value("format", fmt, ("CSV",))],
        )
    process = sim._start_process("CREATE_OFFER_EXPORT", "Create an offer export.", None, sim._apply_export)
    return _json(sim.process_json(process, call.base_url), 202)


def get_offer_export(sim: BolSimState, call: Call) -> Response:
    report = sim.reports.get(call.path_params["report_id"])
    if report is None:
        return problem(
            404,
            "Not Found",
            f"Report {call.path_params['report_id']} not found.",
            instance=call.url,
            media_type=CSV_TYPE,
        )
    return Response(report[1], 200, media_type=CSV_TYPE)


def get_process_status(sim: BolSimState, call: Call) -> Response:
    process = sim.processes.get(call.path_params["process_id"])
    if process is None:
        return problem(
            404, "Not Found", f"Process status {call.path_params['process_id']} not found.", instance=call.url
        )
    return _json(sim.process_json(process, call.base_url))


def find_process_statuses(sim: BolSimState, call: Call) -> Response:
    violations: list[tuple[str, str]] = []
    page = _page(call, violations)
    entity_id = call.query.get("entity-id")
    event_type = call.query.get("event-type")
    if not entity_id:
        violations.append(("entity-id", "must not be null"))
    if not event_type:
        violations.append(("event-type", "must not be null"))
    if violations:
        return problem(400, "Bad Request", "Validation error", instance=call.url, violations=violations)
    found = [p for p in sim.processes.values() if p.entity_id == entity_id and p.event_type == event_type]
    found.sort(key=lambda p: int(p.process_id), reverse=True)
    chunk = found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return _json({"processStatuses": [sim.process_json(p, call.base_url) for p in chunk]})


def bulk_process_statuses(sim: BolSimState, call: Call) -> Response:
    body = call.body
    queries = body.get("processStatusQueries") if isinstance(body, dict) else None
    if not isinstance(queries, list) or not 1 <= len(queries) <= 1000:
        return problem(
            400,
            "Bad Request",
            "Validation error",
            instance=call.url,
            violations=[("processStatusQueries", "size must be between 1 and 1000")],
        )
    ids = [q.get("processStatusId") for q in queries if isinstance(q, dict)]
    found = [sim.processes[i] for i in ids if isinstance(i, str) and i in sim.processes]
    return _json({"processStatuses": [sim.process_json(p, call.base_url) for p in found]})


# -- login host ---------------------------------------------------------------------------------

_SENSITIVE_QUERY = {"client_id", "client_secret", "refresh_token", "code", "access_token"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


async def token_endpoint(request: Request) -> Response:
    """``POST /token`` on login.bol.com: client credentials, authorization code, refresh token."""
    sim: BolSimState = request.app.state.sim
    if _SENSITIVE_QUERY & set(request.query_params.keys()):
        # bol rejects credentials and tokens in the query string since 18 Nov 2024
        return _oauth_error(400, "invalid_request", "Sensitive information must not be sent in URL query parameters.")
    raw = await request.body()
    form: dict[str, str] = {}
    if raw:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
        form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
    grant_type = form.get("grant_type") or request.query_params.get("grant_type", "")
    client_id: str | None = None
    client_secret: str | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except ValueError:
            client_id = client_secret = None
    status, body = sim.grant(grant_type, client_id, client_secret, form)
    return JSONResponse(body, status, headers={"Cache-Control": "no-store"})


async def authorize_endpoint(request: Request) -> Response:
    """``GET /authorize``: the seller logs in and clicks Allow; the sim consents at once."""
    sim: BolSimState = request.app.state.sim
    q = request.query_params
    client_id = q.get("client_id", "")
    redirect_uri = q.get("redirect_uri", "")
    if q.get("response_type") != "code" or client_id not in sim.intermediary_clients or not redirect_uri:
        return _oauth_error(
            400, "invalid_request", "response_type=code, a known client_id and redirect_uri are required."
        )
    code = sim.issue_auth_code(client_id, redirect_uri)
    params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", 302)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), instance=str(request.url))


# --------------------------------------------------------------------------------------------
# The app


class BolSimulator(Starlette):
    """The simulator app. ``app.state.sim`` is the ``BolSimState``.

    Faults are applied here, outside Starlette's error middleware, so a dropped answer really is
    dropped: the request is handled (or not) and the app raises ``SimulatedTimeout`` instead of
    answering.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        sim: BolSimState = self.state.sim
        method: str = scope["method"]
        path: str = scope["path"]
        fault = sim.scripted_faults.take(method, path)
        faults = sim.faults
        random_faults = faults.applies(path)
        with sim.lock:
            kind: str | None = fault.kind if fault else None
            if kind is None and random_faults:
                if faults.roll(faults.error_rate):
                    kind = "error"
                elif faults.roll(faults.timeout_rate):
                    kind = "timeout"
                elif faults.roll(faults.timeout_after_apply_rate):
                    kind = "timeout_after_apply"
                elif faults.roll(faults.slow_rate):
                    kind = "slow"
        wait = fault.seconds if fault else (faults.slow_seconds if kind == "slow" else faults.timeout_seconds)
        if kind == "error":
            status = fault.status if fault else 503
            response = problem(
                status, HTTPStatus(status).phrase, "The service is temporarily unavailable, please retry later."
            )
            await response(scope, receive, send)
            return
        if kind == "timeout":
            await asyncio.sleep(wait)
            raise SimulatedTimeout(f"{method} {path}: no answer (not applied)")
        if kind == "timeout_after_apply":

            async def swallow(message: Message) -> None:
                return None

            await super().__call__(scope, receive, swallow)
            await asyncio.sleep(wait)
            raise SimulatedTimeout(f"{method} {path}: no answer (applied)")
        if kind == "slow":
            await asyncio.sleep(wait)
        await super().__call__(scope, receive, send)


#: credentials a state made by ``create_app()`` accepts (demo and benchmarks)
DEMO_RETAILER_CLIENTS = {"demo-retailer": "demo-retailer-secret"}
DEMO_INTERMEDIARY_CLIENTS = {"kade-partner": "kade-partner-secret"}


def create_app(
    state: BolSimState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    orders: int = 0,
) -> BolSimulator:
    """Build the simulator.

    :param state: the account to serve; when None, a new one that accepts
        ``DEMO_RETAILER_CLIENTS`` and ``DEMO_INTERMEDIARY_CLIENTS``.
    :param orders: how many orders to generate into a new state (demo and benchmarks).
    """
    if state is None:
        state = BolSimState(clock=clock, seed=seed, faults=faults)
        for client_id, secret in DEMO_RETAILER_CLIENTS.items():
            state.add_retailer_client(client_id, secret)
        for client_id, secret in DEMO_INTERMEDIARY_CLIENTS.items():
            state.add_intermediary_client(client_id, secret)
        if orders:
            state.generate(orders)
    else:
        if clock is not None and clock is not state.clock:
            raise ValueError("pass the clock to BolSimState, not to create_app, when giving a state")
        if faults is not None:
            state.faults = faults
    api = _endpoint
    routes = [
        Route("/token", token_endpoint, methods=["POST"]),
        Route("/authorize", authorize_endpoint, methods=["GET"]),
        Route("/retailer/orders", api("orders:list", get_orders), methods=["GET"]),
        Route("/retailer/orders/cancellation", api("orders:cancel", cancel_order_item), methods=["PUT"]),
        Route("/retailer/orders/{order_id}", api("orders:detail", get_order), methods=["GET"]),
        Route("/retailer/shipments", api("shipments:list", get_shipments), methods=["GET"]),
        Route("/retailer/shipments", api("shipments:create", create_shipment), methods=["POST"]),
        Route("/retailer/offers/export", api("offers:export:create", create_offer_export), methods=["POST"]),
        Route(
            "/retailer/offers/export/{report_id}",
            api("offers:export:get", get_offer_export, accept=CSV_TYPE),
            methods=["GET"],
        ),
        Route("/retailer/offers/{offer_id}/stock", api("offers:update", update_offer_stock), methods=["PUT"]),
        Route("/shared/process-status", api("process-status", find_process_statuses), methods=["GET"]),
        Route("/shared/process-status", api("process-status", bulk_process_statuses), methods=["POST"]),
        Route("/shared/process-status/{process_id}", api("process-status", get_process_status), methods=["GET"]),
    ]
    app = BolSimulator(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = state
    return app
