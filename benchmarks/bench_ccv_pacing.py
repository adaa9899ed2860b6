"""CCV pacing: a bulk order import against the two per-minute limits, on a simulated clock.

A shop whose limits equal Kade's default budgets (180 requests a minute in total, 60 per
resource and method) holds ``--orders`` paid orders. The plugin's ``import_orders`` is driven page
by page as the core does it: a ``RateLimited`` from the pacer makes the driver wait that long on
the simulator clock and fetch the page again (rows already read are cached). Printed: requests,
429s from the shop (target 0), simulated minutes, orders per simulated minute against the bound
the per-method limit on ``orderrows`` sets, and the wall time.

No database or Redis: this measures the plugin's pacing only.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import httpx

from kade.errors import RateLimited
from kade.plugins.ccv import plugin
from kade.plugins.ccv.client import DEFAULT_METHOD_PER_MINUTE, DEFAULT_TOTAL_PER_MINUTE
from kade.plugins.ccv.simulator import CcvState, create_app
from kade.plugins.ccv.simulator.state import HOST
from kade.sim.base import SimClock
from kade.sim.transport import SyncASGITransport
from kade.tokens import MemoryTokenStore
from kade.types import ConnectionContext, OrderQuery

START = datetime(2026, 3, 2, tzinfo=UTC).timestamp() + 37


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    clock = SimClock(start=START)
    state = CcvState(clock=clock, limits=(DEFAULT_TOTAL_PER_MINUTE, DEFAULT_METHOD_PER_MINUTE))
    key = state.create_key()
    product = state.add_product("BENCH-1", stock=10**6)
    for _ in range(args.orders):
        state.create_order([(product, 1)])
    http = httpx.Client(transport=SyncASGITransport(create_app(state)))
    ctx = ConnectionContext(connection_id=1, tenant_id=1, platform="ccv", name="bench", auth_method="api_key",
                            base_url=f"https://{HOST}",
                            credentials={"public_key": key.public, "secret_key": key.secret},
                            http=http, tokens=MemoryTokenStore(), save_credentials=lambda _: None, settings={},
                            now=lambda: datetime.fromtimestamp(clock.now(), UTC))
    began, wall = clock.now(), time.perf_counter()
    imported, waits, token = 0, 0, None
    while True:
        try:
            page = plugin.import_orders(ctx, OrderQuery(page_token=token))
        except RateLimited as exc:
            waits += 1
            clock.advance(exc.retry_after)
            continue
        assert page is not None
        imported += len(page.orders)
        if page.next_page_token is None:
            break
        token = page.next_page_token
    minutes = (clock.now() - began) / 60
    print(f"orders imported       {imported}")
    print(f"requests              {len(state.requests)}")
    print(f"429s from the shop    {state.limiter.rejected}")
    print(f"pacer waits           {waits}")
    print(f"simulated minutes     {minutes:.1f}")
    print(f"orders per minute     {imported / minutes:.1f} (bound: {DEFAULT_METHOD_PER_MINUTE}, orderrows GET)")
    print(f"wall time             {time.perf_counter() - wall:.1f} s")


if __name__ == "__main__":
    main()
