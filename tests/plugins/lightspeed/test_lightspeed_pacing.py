"""The three rate-limit windows: the simulator enforces them, the client keeps to them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kade.errors import RateLimited
from kade.plugins.lightspeed import pacing
from kade.plugins.lightspeed.client import LightspeedClient
from kade.plugins.lightspeed.pacing import Budget, Pacer, parse_budget
from kade.plugins.lightspeed.simulator.ratelimit import WindowLimiter
from kade.sim.base import SimClock
from kade.tokens import MemoryTokenStore


def test_simulator_counts_three_windows_and_refuses_past_any(clock) -> None:
    limiter = WindowLimiter(clock, (3, 5, 6))
    verdicts = [limiter.hit("k") for _ in range(4)]
    assert [v.allowed for v in verdicts] == [True, True, True, False]
    assert verdicts[0].headers["X-RateLimit-Limit"] == "3/5/6"
    assert verdicts[2].headers["X-RateLimit-Remaining"] == "-1/2/3"
    reset = int(verdicts[3].headers["X-RateLimit-Reset"].split("/")[0])
    clock.advance(reset)
    assert [limiter.hit("k").allowed for _ in range(3)] == [True, True, False]  # the hour window (5) is spent
    assert limiter.rejected == 2 and len(limiter.log) == 5


def test_budget_headers_parse_and_garbage_is_ignored() -> None:
    budget = parse_budget({"x-ratelimit-limit": "300/3000/12000", "x-ratelimit-remaining": "-1/2000/9000",
                           "x-ratelimit-reset": "20/1000/50000"}, now=100.0)
    assert budget == Budget([300, 3000, 12000], [0, 2000, 9000], [120.0, 1100.0, 50100.0])
    assert parse_budget({"x-ratelimit-limit": "300/3000", "x-ratelimit-remaining": "1/2/3",
                         "x-ratelimit-reset": "1/2/3"}, now=0) is None
    assert parse_budget({"x-ratelimit-limit": "a/b/c", "x-ratelimit-remaining": "1/2/3",
                         "x-ratelimit-reset": "1/2/3"}, now=0) is None


@settings(max_examples=25, deadline=None)
@given(limits=st.tuples(st.integers(5, 40), st.integers(40, 120), st.integers(120, 400)),
       requests=st.integers(1, 300), offset=st.integers(0, 299))
def test_a_paced_client_never_exceeds_a_window(limits: tuple[int, int, int], requests: int, offset: int) -> None:
    """Invariant: whatever the plan and start time, pacing keeps every window and is never refused."""
    clock = SimClock(start=datetime(2026, 1, 1, tzinfo=UTC).timestamp() + offset)
    limiter = WindowLimiter(clock, limits)
    pacer = Pacer(MemoryTokenStore(), "login", clock.now)
    with pacing.sleeping_with(clock.advance):
        for _ in range(requests):
            pacer.acquire(max_wait=10**6)
            verdict = limiter.hit("k")
            assert verdict.allowed
            pacer.observe({k.lower(): v for k, v in verdict.headers.items()})
    assert limiter.rejected == 0


def test_pacing_uses_the_five_minute_window_to_99_percent(clock) -> None:
    limiter = WindowLimiter(clock, (300, 3000, 12000))
    pacer = Pacer(MemoryTokenStore(), "login", clock.now)
    start = clock.now()
    with pacing.sleeping_with(clock.advance):
        for _ in range(600):
            pacer.acquire(max_wait=3600)
            verdict = limiter.hit("k")
            pacer.observe({k.lower(): v for k, v in verdict.headers.items()})
    assert limiter.rejected == 0
    first_window = [t for _, t in limiter.log if t < start - start % 300 + 300]
    assert len(first_window) == 297  # 1 % reserve


def test_writes_hand_long_waits_to_the_core(ctx, state, clock) -> None:
    state.limiter.spend(f"key:{ctx.credentials['api_key']}", 300)
    client = LightspeedClient(ctx)
    with pytest.raises(RateLimited) as info:
        client.put("variants/1", {"variant": {"stockLevel": 1}})
    assert 0 < info.value.retry_after <= 300
    assert state.limiter.rejected == 1
    with pytest.raises(RateLimited, match="budget is spent"):
        client.put("variants/1", {"variant": {"stockLevel": 1}})  # known spent: not even sent
    assert state.limiter.rejected == 1


def test_reads_wait_for_the_reset_another_client_caused(ctx, state, clock) -> None:
    state.limiter.spend(f"key:{ctx.credentials['api_key']}", 300)
    before = clock.now()
    with pacing.sleeping_with(clock.advance):
        answer = LightspeedClient(ctx).get("orders")
    assert answer == {"orders": []}
    assert state.limiter.rejected == 1
    assert clock.now() - before >= 300 - (before % 300) - 1  # waited for the window's reset


def test_account_ratelimit_endpoint(ctx) -> None:
    body = LightspeedClient(ctx).get("account/ratelimit")["accountRatelimit"]
    assert body["limit5Min"]["limit"] == 300 and body["limit5Min"]["remaining"] == 299
    assert set(body) == {"limit5Min", "limitHour", "limitDay"}


def test_requests_in_flight_count_before_their_answers(clock) -> None:
    """Workers share one count: each takes its request off before sending, so two requests in
    flight leave no room for a third, and a late answer cannot give the room back."""
    tokens = MemoryTokenStore()
    first, second, third = (Pacer(tokens, "login", clock.now) for _ in range(3))
    first.observe({"x-ratelimit-limit": "100/1000/10000", "x-ratelimit-remaining": "3/900/9000",
                   "x-ratelimit-reset": "100/1000/10000"})
    first.acquire(max_wait=0)
    second.acquire(max_wait=0)
    with pytest.raises(RateLimited, match="5min request budget is spent"):
        third.acquire(max_wait=0)
    # the first answer arrives: the store counted only that one, the second is still in flight
    first.observe({"x-ratelimit-limit": "100/1000/10000", "x-ratelimit-remaining": "2/899/8999",
                   "x-ratelimit-reset": "99/999/9999"})
    with pytest.raises(RateLimited):
        third.acquire(max_wait=0)
    clock.advance(101)
    third.acquire(max_wait=0)  # the window reset: room again


def test_a_spent_hour_window_goes_back_to_the_core(ctx, state, clock) -> None:
    """Waiting for an hour window inline would outlive the core's import lease."""
    state.limiter.spend(f"key:{ctx.credentials['api_key']}", 300)
    state.limiter.limits = (300, 300, 12000)  # the hour budget is the one spent
    with pacing.sleeping_with(clock.advance), pytest.raises(RateLimited) as info:
        LightspeedClient(ctx).get("orders")
    assert info.value.retry_after > 540


def test_a_429_without_budget_headers_still_waits_its_retry_after(ctx, clock, monkeypatch) -> None:
    client = LightspeedClient(ctx)
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}),
                    httpx.Response(200, json={"orders": []})])
    monkeypatch.setattr(ctx.http, "request", lambda *a, **k: next(answers))
    before = clock.now()
    with pacing.sleeping_with(clock.advance):
        assert client.get("orders") == {"orders": []}
    assert clock.now() - before >= 7
