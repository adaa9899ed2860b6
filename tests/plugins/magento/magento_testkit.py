"""A simulated Magento in-process and connection contexts wired to it (used by conftest and tests).

A module with a unique name, so test modules can import it whatever other ``conftest`` modules
the run has loaded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from kade.plugins.magento.simulator import MagentoState, SpecCheck, create_app
from kade.plugins.magento.simulator.state import Integration
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

BASE_URL = "https://shop.magento.test"


class Recorder(SyncASGITransport):
    """The in-process transport, remembering every exchange."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.exchanges: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.exchanges.append((request, response))
        return response


@dataclass
class Magento:
    sim: MagentoState
    spec: SpecCheck
    integration: Integration
    transport: Recorder
    http: httpx.Client
    saved: list[dict[str, str]] = field(default_factory=list)

    def oauth(self, integration: Integration | None = None) -> dict[str, str]:
        i = integration or self.integration
        return {"consumer_key": i.consumer_key, "consumer_secret": i.consumer_secret,
                "access_token": i.access_token, "access_token_secret": i.access_token_secret}

    def ctx(self, auth_method: str = "oauth1", credentials: dict[str, str] | None = None,
            **settings: Any) -> ConnectionContext:
        if credentials is None:
            credentials = self.oauth() if auth_method == "oauth1" else {"access_token": self.integration.access_token}
        return ConnectionContext(
            connection_id=1, tenant_id=1, platform="magento", name="magento test shop", auth_method=auth_method,
            base_url=BASE_URL, credentials=dict(credentials), http=self.http, tokens=MemoryTokenStore(),
            save_credentials=self.saved.append, settings={"stock_api": "msi" if self.sim.msi else "legacy",
                                                          **settings},
            now=lambda: datetime.fromtimestamp(self.sim.clock.now(), UTC),
        )

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A signed request outside the plugin (for probing the simulator itself)."""
        from kade.plugins.magento.auth import OAuth1

        return self.http.request(method, f"{BASE_URL}{path}", auth=OAuth1(self.oauth(), now=self.ctx().now),
                                 **kwargs)

    def close(self) -> None:
        self.http.close()
        self.transport.close()


def make_magento(**options: Any) -> Magento:
    sim = MagentoState(clock=SimClock(start=datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()), **options)
    spec = SpecCheck()
    app = create_app(sim)
    app.spec = spec
    integration = sim.create_integration("Kade")
    transport = Recorder(app)
    return Magento(sim, spec, integration, transport, httpx.Client(transport=transport))
