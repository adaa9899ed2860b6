"""Lightspeed pacing: a bulk order import against the three rate-limit windows, on a simulated clock.

A shop on the default plan (300 requests per 5 minutes, 3,000 per hour, 12,000 per day) holds
``--orders`` paid orders. The plugin's ``import_orders`` is driven page by page, as the core
does (one list call per 250 orders plus one ``orders/{id}/products`` call per order). The pacer
waits through the simulator clock, so hours of store time pass in seconds. A spent hour window
ends the run with ``RateLimited`` as in the core; the next run starts over from the same cursor
(the lines of orders already read are cached, so it costs only the order list).

Printed: requests, 429s, the busiest window of each kind against its limit, and the use of
every 5-minute window the hour and day budgets left room for (target ≥ 95 %). A second run adds
a competing client on the same key (a steady trickle plus one burst that empties a window):
Kade must finish, and any 429 it meets must come from the other client's spending.

No database or Redis: this measures the plugin's pacing only.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import httpx

from kade.errors import RateLimited
from kade.plugins.lightspeed import pacing
from kade.plugins.lightspeed import plugin as ls
from kade.plugins.lightspeed.simulator import create_app
from kade.plugins.lightspeed.simulator.ratelimit import DEFAULT_LIMITS, WINDOWS
from kade.plugins.lightspeed.simulator.state import LightspeedState
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext, OrderQuery

#: a day boundary plus 37 s: the import starts inside a 5-minute window, not on its edge
START = datetime(2026, 3, 2, tzinfo=UTC).timestamp() + 37


class Competitor(httpx.BaseTransport):
    """Another app on the same key: spends some budget between Kade's requests."""

    def __init__(self, inner: httpx.BaseTransport, state: LightspeedState, budget_key: str, seed: int) -> None:
        self.inner, self.state, self.budget_key = inner, state, budget_key
        self.rng = random.Random(seed)
        self.sent = 0
        self.spent = 0
        self.burst_done = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        spend = 1 if self.rng.random() < 0.1 else 0
        if not self.burst_done and self.sent > 900:
            spend, self.burst_done = DEFAULT_LIMITS[0], True  # empties the current 5-minute window
        self.spent += spend
        if spend:
            self.state.limiter.spend(self.budget_key, spend)
        self.sent += 1
        return self.inner.handle_request(request)


def run(orders: int, *, competitor: bool, seed: int) -> dict[str, Any]:
    clock = SimClock(start=START)
    state = LightspeedState(clock=clock, limits=DEFAULT_LIMITS)
    shop = state.add_shop()
    key = state.create_api_key(shop)
    with state.lock:
        variants = [state.add_variant(shop, sku=f"B-{i:04d}", stock=10) for i in range(200)]
        for i in range(orders):
            state.create_order(shop, [(variants[i % len(variants)], 1 + i % 3)])
    transport: httpx.BaseTransport = SyncASGITransport(create_app(state))
    rival = Competitor(transport, state, f"key:{key.key}", seed) if competitor else None
    http = httpx.Client(transport=rival or transport)
    ctx = ConnectionContext(
        connection_id=1, tenant_id=1, platform="lightspeed", name="bench", auth_method="api_key",
        base_url="https://api.webshopapp.com", credentials={"api_key": key.key, "api_secret": key.secret},
        http=http, tokens=MemoryTokenStore(), save_credentials=lambda _: None, settings={"language": "nl"},
        now=lambda: datetime.fromtimestamp(clock.now(), UTC),
    )
    seen: set[str] = set()
    token: str | None = None
    runs = 1
    wall = time.perf_counter()
    begin = clock.now()
    with pacing.sleeping_with(clock.advance):
        while True:
            try:
                page = ls.import_orders(ctx, OrderQuery(since=None, page_token=token))
            except RateLimited as exc:
                # what the core does: the run ends, the cursor stays; the next poll starts over
                clock.advance(exc.retry_after)
                token, runs = None, runs + 1
                continue
            assert page is not None
            seen.update(o.remote_id for o in page.orders)
            if page.next_page_token is None:
                break
            token = page.next_page_token
    imported = len(seen)
    wall = time.perf_counter() - wall
    span = clock.now() - begin
    http.close()
    ours = [t for k, t in state.limiter.log if k == f"key:{key.key}"]
    per: list[Counter[float]] = [Counter(t - t % length for t in ours) for length in WINDOWS]
    foreign_note = ""
    # windows the hour and day budgets left room for, and that the import spanned entirely
    last = max(ours)
    hour_used: Counter[float] = Counter()
    full_windows: list[float] = []
    for start in sorted(per[0]):
        hour = start - start % WINDOWS[1]
        used_before = sum(n for s, n in per[0].items() if s < start and s - s % WINDOWS[1] == hour)
        hour_used[hour] = used_before
        room = DEFAULT_LIMITS[1] - used_before >= DEFAULT_LIMITS[0]
        if room and start + WINDOWS[0] <= last and start >= begin - begin % WINDOWS[0]:
            full_windows.append(per[0][start] / DEFAULT_LIMITS[0])
    if competitor and rival is not None:
        foreign_note = (f"the other client sent {rival.spent} requests between Kade's "
                        f"(including one burst of {DEFAULT_LIMITS[0]})")
    return {
        "orders": imported, "requests": len(ours), "rejected": state.limiter.rejected, "span": span, "wall": wall,
        "peaks": [max(c.values()) for c in per], "five_min": full_windows, "note": foreign_note, "runs": runs,
    }


def report(title: str, r: dict[str, Any], *, strict: bool) -> bool:
    ok = True
    print(f"\n== {title}")
    print(f"orders imported        {r['orders']:>8}   in {r['runs']} run(s) (a spent hour window ends a run; "
          "the next starts over from the cursor)")
    print(f"requests sent          {r['requests']:>8}   store time {r['span'] / 3600:.2f} h, wall {r['wall']:.1f} s")
    rejected_ok = r["rejected"] == 0 if strict else True
    ok &= rejected_ok
    print(f"429 answers            {r['rejected']:>8}   {'OK' if rejected_ok else 'MISSED'}"
          + ("" if strict else "   (caused by the other client's spending; honoured)"))
    for name, peak, limit in zip(("5min", "hour", "day"), r["peaks"], DEFAULT_LIMITS, strict=True):
        within = peak <= limit
        ok &= within
        print(f"busiest {name:<5} window   {peak:>8} / {limit:<6} {'OK' if within else 'MISSED'}")
    windows = r["five_min"]
    if windows:
        low, mean = min(windows), sum(windows) / len(windows)
        target = low >= 0.95 if strict else True
        ok &= target
        what = "use" if strict else "Kade's share (the rest is the other client's)"
        print(f"5-min windows measured {len(windows):>8}   {what}: min {low:.1%}, mean {mean:.1%}"
              + (f" (target ≥ 95 %) {'OK' if target else 'MISSED'}" if strict else ""))
    if r["note"]:
        print(r["note"])
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=5000, help="paid orders in the shop (default 5000)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    alone = run(args.orders, competitor=False, seed=args.seed)
    ok = report(f"bulk import of {args.orders} orders, Kade alone on the key", alone, strict=True)
    shared = run(args.orders, competitor=True, seed=args.seed)
    ok &= report(f"bulk import of {args.orders} orders, another client on the same key", shared, strict=False)
    ok &= shared["orders"] == args.orders
    print("\nall targets met" if ok else "\nsome targets MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
