"""The two per-minute limits: the shop's 429.10 and 429.11, Kade's pacing, a refusal honoured."""

from __future__ import annotations

import httpx
import pytest

from kade.errors import RateLimited
from kade.plugins.ccv.client import DEFAULT_WAIT, CcvClient
from kade.plugins.ccv.simulator import CcvState, create_app
from kade.plugins.ccv.simulator.signing import digest
from kade.plugins.ccv.simulator.state import ApiKey
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext

from .conftest import BASE, START


def _shop(limits: tuple[int, int]) -> tuple[CcvState, ApiKey, httpx.Client, SimClock]:
    clock = SimClock(start=START.timestamp())
    state = CcvState(clock=clock, limits=limits)
    return state, state.create_key(), httpx.Client(transport=SyncASGITransport(create_app(state))), clock


def _raw_get(http: httpx.Client, key: ApiKey, clock: SimClock, path: str) -> httpx.Response:
    from datetime import UTC, datetime

    date = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    uri = f"/api/rest/v1/{path}/"
    return http.get(f"{BASE}{uri}", headers={"x-public": key.public, "x-date": date,
                                            "x-hash": digest(key.public, "GET", uri, b"", date, key.secret)})


def _ctx(http: httpx.Client, key: ApiKey, clock: SimClock, **settings: object) -> ConnectionContext:
    from datetime import UTC, datetime

    return ConnectionContext(connection_id=1, tenant_id=1, platform="ccv", name="shop", auth_method="api_key",
                             base_url=BASE, credentials={"public_key": key.public, "secret_key": key.secret},
                             http=http, tokens=MemoryTokenStore(), save_credentials=lambda _: None,
                             settings=dict(settings), now=lambda: datetime.fromtimestamp(clock.now(), UTC))


def test_the_shop_limits_each_resource_and_method_per_minute() -> None:
    _, key, http, clock = _shop((100, 2))
    assert [_raw_get(http, key, clock, "orders").status_code for _ in range(2)] == [200, 200]
    refused = _raw_get(http, key, clock, "orders")
    assert refused.status_code == 429
    assert refused.json()["code"] == "429.10" and refused.json()["status"] == 429
    assert "GET orders" in refused.json()["developermessage"]
    assert refused.headers["x-hash"], "a refusal is signed too"
    assert _raw_get(http, key, clock, "products").status_code == 200  # another resource has its own count
    clock.advance(60)
    assert _raw_get(http, key, clock, "orders").status_code == 200


def test_the_shop_limits_all_requests_per_minute() -> None:
    _, key, http, clock = _shop((3, 100))
    for path in ("orders", "products", "orderrows/1"):
        _raw_get(http, key, clock, path)
    refused = _raw_get(http, key, clock, "attributecombinations/1")
    assert refused.status_code == 429 and refused.json()["code"] == "429.11"
    assert float(refused.headers["Retry-After"]) > 0


def test_kade_paces_itself_under_the_per_method_budget() -> None:
    state, key, http, clock = _shop((100, 3))
    client = CcvClient(_ctx(http, key, clock, requests_per_minute_per_method=3))
    for _ in range(3):
        client.collection("orders")
        clock.advance(10)
    sent = len(state.requests)
    with pytest.raises(RateLimited) as caught:
        client.collection("orders")
    assert len(state.requests) == sent, "a full window is waited for without asking the shop"
    assert caught.value.retry_after == pytest.approx(31, abs=0.5)  # 30 s, plus the margin for latency
    client.collection("products")  # another resource and method is not held up
    clock.advance(caught.value.retry_after)
    client.collection("orders")
    assert state.limiter.rejected == 0


def test_kade_paces_itself_under_the_total_budget() -> None:
    state, key, http, clock = _shop((3, 100))
    client = CcvClient(_ctx(http, key, clock, requests_per_minute=3))
    for path in ("orders", "products", "orders"):
        client.collection(path)
    with pytest.raises(RateLimited):
        client.collection("products")
    assert state.limiter.rejected == 0


@pytest.mark.parametrize(("limits", "code"), [((100, 1), "429.10"), ((1, 100), "429.11")])
def test_a_refusal_from_the_shop_is_honoured_by_every_later_call(limits: tuple[int, int], code: str) -> None:
    """Another client spent the budget: Kade waits the shop's time instead of hammering."""
    state, key, http, clock = _shop(limits)
    _raw_get(http, key, clock, "orders")  # the other client
    client = CcvClient(_ctx(http, key, clock))
    with pytest.raises(RateLimited) as caught:
        client.collection("orders")
    assert caught.value.code == code and caught.value.retry_after > 50
    sent = len(state.requests)
    with pytest.raises(RateLimited):
        client.collection("orders")
    assert len(state.requests) == sent
    clock.advance(caught.value.retry_after)
    client.collection("orders")


def test_a_refusal_without_retry_after_waits_a_minute() -> None:
    state, key, http, clock = _shop((100, 1))
    state.send_retry_after = False
    _raw_get(http, key, clock, "orders")
    with pytest.raises(RateLimited) as caught:
        CcvClient(_ctx(http, key, clock)).collection("orders")
    assert caught.value.retry_after == DEFAULT_WAIT


def test_an_error_body_is_read_for_the_message(ctx: ConnectionContext, state: CcvState) -> None:
    from kade.errors import NotFound

    with pytest.raises(NotFound, match=r"Order 999 does not exist \(404.30\)"):
        CcvClient(ctx).get("orders/999")


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_a_budget_setting_that_makes_no_sense_is_a_clear_error(make_ctx, value: str) -> None:
    from kade.errors import RejectedByStore

    with pytest.raises(RejectedByStore, match="requests_per_minute"):
        CcvClient(make_ctx(settings={"requests_per_minute": value}))
