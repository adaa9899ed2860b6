"""Shopify's nightly stock check of N variants (default 1,000,000) through a bulk operation.

The Shopify simulator runs in its own process (uvicorn on 127.0.0.1, a synthetic catalogue
generated line by line, 1% of the variants drifted), so the peak RSS printed is Kade's alone.
Kade runs the real plugin and ``kade.stockcheck.full_stock_check`` over real HTTP into a
temporary PostgreSQL database whose products and links are loaded by COPY beforehand.
Targets: every drifted variant corrected (exactly), peak RSS ≤ 500 MB, and far fewer cost
points and less time than GraphQL paging would take.

    .venv/bin/python benchmarks/bench_shopify_bulk.py [--products 1000000]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
from _common import active_connection, copy_linked_products, rss_mb, temp_database
from cryptography.fernet import Fernet
from sqlmodel import func, select

from kade.app import Kade
from kade.config import Settings
from kade.db import Database
from kade.manager import make_plugin_manager
from kade.models import Action
from kade.plugins.shopify import bulkstock, plugin, queries, stock
from kade.plugins.shopify import client as shopify_client
from kade.plugins.shopify.cost import requested_cost
from kade.stockcheck import full_stock_check

RSS_TARGET_MB = 500
DRIFT_EVERY = 100
ITEM_BASE = 50_000_000  # kade.plugins.shopify.simulator.synthetic.ITEM_BASE (not imported: no Starlette here)


def serve_simulator(products: int, port: int) -> None:
    """The child process: a Shopify shop with a synthetic catalogue, on 127.0.0.1:port."""
    import uvicorn

    from kade.plugins.shopify import simulator as sm

    state = sm.SimState(bucket_size=1000.0, restore_rate=100.0)  # a standard plan's 100 points/s
    state.use_synthetic_catalog(products, drift_every=DRIFT_EVERY)
    state.bulk_background, state.bulk_polls = True, 1
    print(sm.gid("Location", state.primary_location.id), flush=True)
    uvicorn.run(sm.create_app(state), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


def warehouse_quantity(i: int) -> int:
    return (i * 7 + 3) % 50  # kade.plugins.shopify.simulator.synthetic.warehouse_quantity


def load(dsn: str, tenant_id: int, connection_id: int, products: int) -> None:
    """COPY the warehouse products (the shop's stock before the drift) and their links."""
    copy_linked_products(dsn, tenant_id, connection_id, products,
                         row=lambda i: (f"SYN-{i:07d}", f"Variant {i}", warehouse_quantity(i)),
                         remote_id_sql=f"'gid://shopify/InventoryItem/' || ({ITEM_BASE} + substr(sku, 5)::int)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator(products: int) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", "--products", str(products), "--port", str(port)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    location = child.stdout.readline().strip()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.post(url + queries.GRAPHQL_PATH, json={}, timeout=1)
            return child, url, location
        except httpx.TransportError:
            time.sleep(0.05)
    child.kill()
    raise RuntimeError("the simulator did not start")


def mark(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_simulator(args.products, args.port)
        return
    load_before = os.getloadavg()
    child, shop_url, location = start_simulator(args.products)
    try:
        with temp_database() as url:
            kade = Kade(Settings(data_dir="/tmp/kade-bench", secret_key=Fernet.generate_key().decode(), _env_file=None),
                        db=Database(url), pm=make_plugin_manager())
            tenant_id, connection_id = active_connection(
                kade, "shopify", shop_url, {"access_token": "shpat_simulated_admin_token",
                                            "client_secret": "kade-sim-client-secret"},
                auth_method="admin_token", settings={"location_id": location})
            t0 = time.perf_counter()
            load(url.replace("+psycopg", ""), tenant_id, connection_id, args.products)
            setup = time.perf_counter() - t0

            polls: list[float] = []
            export: dict[str, float] = {}
            real_sleep, real_export = shopify_client.SLEEP, bulkstock.run_export

            def counted_sleep(seconds: float) -> None:
                polls.append(seconds)
                real_sleep(seconds)

            def timed_export(client: Any, loc: str) -> dict[str, Any]:
                started = time.perf_counter()
                try:
                    return real_export(client, loc)
                finally:
                    export["seconds"] = time.perf_counter() - started

            shopify_client.SLEEP = counted_sleep
            stock.run_export = timed_export  # type: ignore[assignment]
            before = rss_mb()
            t0 = time.perf_counter()
            stats = full_stock_check(kade, connection_id)
            elapsed = time.perf_counter() - t0
            load_after = os.getloadavg()
            with kade.db.session() as session:
                queued = session.exec(select(func.count()).select_from(Action)).one()
            expected = (args.products + DRIFT_EVERY - 1) // DRIFT_EVERY
            reading = elapsed - export.get("seconds", 0.0)
            bulk_points = (requested_cost(queries.BULK_CURRENT.document, {}) + 10
                           + len(polls) * requested_cost(queries.BULK_POLL.document, {}))
            page_cost = requested_cost(queries.STOCK_LEVELS.document, {"first": plugin.STOCK_PAGE})
            pages = -(-args.products // plugin.STOCK_PAGE)
            paged_points = pages * page_cost
            peak = rss_mb()
            print(f"variants: {args.products:,} in the simulator's synthetic catalogue "
                  f"(warehouse loaded by COPY in {setup:.1f}s)")
            print(f"checked: {stats.seen:,} in {stats.pages:,} pages, {elapsed:.1f}s in all "
                  f"({stats.seen / elapsed:,.0f} items/s); export wait {export.get('seconds', 0):.1f}s "
                  f"({len(polls)} polls), download + check {reading:.1f}s "
                  f"({stats.seen / max(reading, 1e-9):,.0f} items/s)")
            print(f"corrections queued: {queued:,} for {stats.drifted:,} drifted (seeded {expected:,})  "
                  f"{mark(queued == expected == stats.drifted and stats.seen == args.products)}")
            print(f"peak RSS (Kade's process): {peak:.0f} MB (before the check: {before:.0f} MB; "
                  f"target ≤ {RSS_TARGET_MB} MB)  {mark(peak <= RSS_TARGET_MB)}")
            print(f"cost points: bulk {bulk_points:,}; paging would request {paged_points:,} "
                  f"({pages:,} pages × {page_cost}) = {paged_points / 100 / 3600:.1f} h at 100 points/s, "
                  f"{paged_points / 50 / 3600:.1f} h at 50 points/s  {mark(bulk_points * 100 < paged_points)}")
            print(f"paging vs bulk time: {paged_points / 100:,.0f}s vs {elapsed:.0f}s  "
                  f"{mark(elapsed < paged_points / 100)}")
            print("load average (1/5/15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}".format(
                *load_before, *load_after))
            kade.close()
    finally:
        child.terminate()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
