"""Outage recovery: stores down for three simulated hours across many connections, then back.

Half the stores answer 503 to everything, the other half refuse the token (401 → ``needs_reauth``);
meanwhile orders arrive in the stores and stock changes and shipments pile up in Kade. The clock is
moved, not waited for (``tests.support.outage``): retries run out as they would over three hours.
Then the stores are back, the operator re-authorises, reads the dry-run plan and runs the recovery
(``kade.recovery.run_recovery``); the drain is timed against the time the stores' own declared rate
limit (``fakehttp_limited``: 20 requests/s per connection, burst 1) needs for what each connection
must fetch and send (its stock counted in distinct products: one push carries a product's latest
value) — connections drain in parallel, so the slowest connection sets the bound. The drain ends
with the last action or import the database records as done; the harness's own look, every 0.1 s,
is printed beside it.

Kade runs as it is deployed: ``kade worker`` processes (``--processes`` × ``--threads``, 2 × 8 by
default) on the Redis broker and PostgreSQL, this process in the scheduler's and the operator's
place (it sweeps once a second and runs the recovery), and the fake HTTP stores in a process of
their own (``tests.support.storehost``). ``--in-process`` runs the workers as ``--threads``
threads of this process and ``--stores-in-process`` serves the stores from threads of it too:
then everything shares one interpreter lock, as the figures before December 2026 were measured.
The machine's CPU during the drain is printed too (all of it, from /proc/stat): at 10 shops on
two cores it tells whether the stores' limits or the machine set the pace.

Run: ``.venv/bin/python benchmarks/bench_outage.py [--shops 10] [--products 200] [--processes 2] [--threads 8]
[--in-process] [--stores-in-process]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from _common import REDIS_URL, make_kade, temp_database, verdict
from _procs import machine_cpu

from kade.runtime import Runtime
from tests.e2e.harness import WorkerPool, assert_stock_converged
from tests.support import fakehttp
from tests.support.outage import close_shops, open_shops, outage, recover
from tests.support.storehost import StoreHost

TARGET_RATIO = 1.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=10)
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--orders-per-tick", type=int, default=10)
    parser.add_argument("--stock-per-tick", type=int, default=30)
    parser.add_argument("--shipments-per-tick", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2, help="`kade worker` processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process")
    parser.add_argument("--in-process", action="store_true",
                        help="run --threads worker threads in this process instead of `kade worker`")
    parser.add_argument("--stores-in-process", action="store_true",
                        help="serve the stores from threads of this process (sharing its interpreter lock)")
    args = parser.parse_args()
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    print(f"load before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp, temp_database() as url, pytest.MonkeyPatch.context() as mp, \
            (contextlib.nullcontext() if args.stores_in_process else StoreHost()) as host:
        kade = make_kade(url, Path(tmp), plugins=[(fakehttp, fakehttp.PLATFORM)], redis_url=REDIS_URL,
                         broker_url=REDIS_URL, stock_window=1.0)
        runtime = Runtime(kade)
        shops = open_shops(kade, args.shops, products=args.products, orders=40, host=host)
        pool = None
        if args.in_process:
            workers = f"{args.threads} threads of this process"
        else:
            root = fakehttp.install_fakehttp_dist(Path(tmp) / "dist", mp)
            env = {**os.environ, "KADE_REDIS_URL": REDIS_URL, "KADE_BROKER_URL": REDIS_URL, "KADE_DATABASE_URL": url,
                   "KADE_SECRET_KEY": kade.settings.secret_key, "KADE_STOCK_WINDOW": "1.0",
                   "KADE_LOG_FORMAT": "json", "KADE_LOG_LEVEL": "WARNING",
                   "PYTHONPATH": fakehttp.worker_pythonpath(root)}
            pool = WorkerPool(env, Path(tmp))
            workers = f"`kade worker`: {args.processes} processes x {args.threads} threads"
        print(f"workers: {workers}; the stores in "
              f"{'threads of this process' if host is None else 'a process of their own'}")
        try:
            if pool is None:
                runtime.start(threads=args.threads, tick=0)
            else:
                pool.wait_ready(pool.start(processes=args.processes, threads=args.threads), processes=args.processes)
            began = time.monotonic()
            since = outage(kade, runtime, shops, orders_per_tick=args.orders_per_tick,
                           stock_per_tick=args.stock_per_tick, shipments_per_tick=args.shipments_per_tick)
            print(f"outage replayed: 18 ticks of 10 simulated minutes in {time.monotonic() - began:.1f}s")
            busy, elapsed = machine_cpu()
            report = recover(kade, runtime, shops, since, timeout=900)
            busy, elapsed = machine_cpu()[0] - busy, machine_cpu()[1] - elapsed
        finally:
            if pool is not None:
                pool.close()
            runtime.stop()
            close_shops(shops)
        totals = Counter(report.plan.totals())
        failed = Counter[str]()
        for gap in report.plan.connections:
            failed.update(gap.failed)
        statuses = Counter(g.status for g in report.plan.connections)
        print(f"dry run: {dict(statuses)} connections; to send {dict(totals)} (the stock for "
              f"{report.plan.stock_products()} products); of which retries ran out {dict(failed)}")
        twice = sum(sum(1 for n in s.store.report_counts().values() if n > 1) for s in shops)
        reported = sum(len(s.store.report_counts()) for s in shops)
        converged = 0
        for shop in shops:
            converged += assert_stock_converged(kade, shop.store, shop.connection_id)
        in_order = sum(1 for o, s, sh in report.first_calls if o < s < sh)
        ratio = report.recorded_seconds / report.rate_limit_seconds if report.rate_limit_seconds else float("inf")
        print(f"shipments reported: {reported}, twice: {twice}; store stock equals warehouse for {converged} links")
        print(f"connections whose first order page < first stock push < first shipment: "
              f"{in_order}/{len(shops)}")
        print(f"requests to the stores during the drain: {report.requests} "
              f"({report.requests / report.drain_seconds:.0f}/s over all stores)")
        print(f"  jobs queued (run_recovery returned) {report.queued_seconds:.2f}s after the start")
        for name, k in (("order page", 0), ("stock push", 1), ("shipment report", 2)):
            firsts = [f[k] for f in report.first_calls]
            lasts = [f[k] for f in report.last_calls]
            print(f"  {name:16} first {min(firsts):5.2f}s .. {max(firsts):5.2f}s, "
                  f"last {min(lasts):5.2f}s .. {max(lasts):5.2f}s after the start")
        print(f"drain: {report.recorded_seconds:.2f}s to the last action or import recorded (the harness, looking "
              f"every 0.1 s, saw it at {report.drain_seconds:.2f}s); the stores' rate limits allow "
              f"{report.rate_limit_seconds:.2f}s; ratio {ratio:.2f} (target ≤ {TARGET_RATIO}) "
              f"{verdict(ratio, TARGET_RATIO, higher_is_better=False)}")
        cores = os.cpu_count() or 1
        print(f"the machine during the drain: {busy:.1f} CPU-seconds busy, {busy / elapsed * cores:.2f} of {cores} "
              f"cores (Kade's workers, PostgreSQL, Redis, the stores and this process)")
        print(f"load after: {os.getloadavg()[0]:.1f} (1 min)")
        kade.close()
    client.flushdb()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
