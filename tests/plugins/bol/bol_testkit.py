"""A bol simulator in-process and connection contexts wired to it (used by conftest and tests).

A module of its own, with a unique name, so test modules can import it whatever other
``conftest`` modules the run has loaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from kade.plugins.bol.simulator import BolSimState, create_app
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext, TokenStore

START = datetime(2025, 6, 2, 10, 0, tzinfo=UTC).timestamp()
RETAILER = ("retailer-client", "retailer-secret")
PARTNER = ("kade-partner", "partner-secret")
REDIRECT_URI = "https://kade.example/callback/bol"


#: the core's in-process transport already turns dropped answers into client timeouts
SimTransport = SyncASGITransport


@dataclass
class Bol:
    """One simulated bol account plus what a test needs to build connections to it."""

    sim: BolSimState
    clock: SimClock
    http: httpx.Client
    tokens: TokenStore = field(default_factory=MemoryTokenStore)
    saved: list[dict[str, str]] = field(default_factory=list)

    def ctx(
        self,
        auth_method: str = "client_credentials",
        credentials: dict[str, str] | None = None,
        *,
        settings: dict[str, Any] | None = None,
        tokens: TokenStore | None = None,
        connection_id: int = 1,
    ) -> ConnectionContext:
        if credentials is None:
            credentials = {"client_id": RETAILER[0], "client_secret": RETAILER[1]}
        return ConnectionContext(
            connection_id=connection_id,
            tenant_id=1,
            platform="bol",
            name="bol test shop",
            auth_method=auth_method,
            base_url="https://api.bol.com",
            credentials=dict(credentials),
            http=self.http,
            tokens=tokens or self.tokens,
            save_credentials=self.saved.append,
            settings=settings or {},
            now=lambda: datetime.fromtimestamp(self.clock.now(), UTC),
        )

    def code_credentials(self) -> dict[str, str]:
        """Credentials of a connection that went through bol's consent (authorization code)."""
        code = self.sim.issue_auth_code(PARTNER[0], REDIRECT_URI)
        status, body = self.sim.grant(
            "authorization_code", PARTNER[0], PARTNER[1], {"code": code, "redirect_uri": REDIRECT_URI}
        )
        assert status == 200, body
        return {"client_id": PARTNER[0], "client_secret": PARTNER[1], "refresh_token": body["refresh_token"]}


#: what the ``bol_factory`` fixture is: keyword arguments of ``BolSimState`` → a ready ``Bol``
BolFactory = Callable[..., Bol]

#: clocks of the simulators made in the running test; the plugin's waits advance them
CLOCKS: list[SimClock] = []


def make_bol(*, clock: SimClock | None = None, **state_options: Any) -> tuple[Bol, SimTransport]:
    clock = clock or SimClock(start=START)
    CLOCKS.append(clock)
    sim = BolSimState(clock=clock, **state_options)
    sim.add_retailer_client(*RETAILER)
    sim.add_intermediary_client(*PARTNER)
    transport = SimTransport(create_app(sim))
    http = httpx.Client(transport=transport, base_url="https://api.bol.com")
    return Bol(sim=sim, clock=clock, http=http), transport
