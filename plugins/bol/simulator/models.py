"""What the simulated retailer account holds: offers, orders, shipments, processes, tokens."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from kade.sim.base import (
    RateLimit,
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


