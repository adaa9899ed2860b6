"""Many connections: one `kade scheduler` and two `kade worker` processes polling N connections.

Per size (``--connections 200,500,1000,2000``) a fresh PostgreSQL database gets N active
connections of the fake HTTP store (``tests/support/fakehttp.py``), spread over tenants, each
polling every ``--interval`` seconds. Their last polls are spread evenly over one interval (a
steady state, not a cold start), their products count as linked and today's daily jobs as done,
so what runs is order polling and the scheduler's own rounds. The store has no orders: a poll is
one request answering an empty page — the common case, and the one where Kade's own cost shows.

Measured over ``--cycles`` poll intervals:

- lateness: when a poll was due (the scheduler's previous mark + the interval, sampled from
  ``connection_runtime``) to when its first request reached the store; split into the
  scheduler's share (due → marked and sent) and the queue's (sent → the worker's request);
- SQL statements and commits per poll in the workers and in the scheduler, counted in each
  process by a SQLAlchemy event listener (``benchmarks/_stmtcount.py``, loaded with the plugin);
- the scheduler's CPU seconds per cycle and RSS, the workers' CPU per poll (``/proc``).

Run: ``.venv/bin/python benchmarks/bench_scale.py [--connections 200,500,1000,2000] [--interval 20]``
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from _common import REDIS_URL, ROOT, make_kade, percentile, temp_database, verdict
from _procs import Procs, cpu_seconds, group_pids, rss_mb
from _stmtcount import read_counts

from kade.app import Kade
from kade.connections import activate, add_connection, update_setting
from kade.models import ConnectionRuntime, Lease
from kade.sim.server import BackgroundServer
from kade.tenants import add_tenant, enable_platform
from tests.support import fakehttp
from tests.support.dists import install_plugin_dist

READY_LINE = "is ready for action"
#: a poll should start within two scheduler ticks (1 s each) of being due
TARGET_LATE_P95 = 2.0
#: the scheduler should need at most this share of one core
TARGET_SCHEDULER_CPU = 0.10


# ---------------------------------------------------------------------------------------------
# The store: the fake HTTP store behind a prefix that names the connection


class RecordingStore:
    """``/c/<n>/api/...`` → the fake store's ``/api/...``; records when each connection's order
    page was asked for (the start of its import, seen from outside Kade)."""

    def __init__(self) -> None:
        self.store = fakehttp.HttpStore()
        self.lock = threading.Lock()
        self.order_requests: list[tuple[int, float]] = []

    def take(self) -> list[tuple[int, float]]:
        with self.lock:
            out, self.order_requests = self.order_requests, []
        return out

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/c/"):
            _, _, index, rest = scope["path"].split("/", 3)
            scope = {**scope, "path": f"/{rest}", "raw_path": f"/{rest}".encode()}
            if rest == "api/orders":
                with self.lock:
                    self.order_requests.append((int(index), time.time()))
        await self.store.app(scope, receive, send)


# ---------------------------------------------------------------------------------------------
# Processes and /proc


# ---------------------------------------------------------------------------------------------
# Setup


def create_connections(kade: Kade, count: int, per_tenant: int, base_url: str, interval: int) -> dict[int, int]:
    """``count`` active fake-store connections, ``per_tenant`` per tenant; store index → connection id."""
    ids: dict[int, int] = {}
    platform = fakehttp.PLATFORM
    for first in range(0, count, per_tenant):
        with kade.db.transaction() as session:
            tenant = add_tenant(session, f"t{first // per_tenant}")
            enable_platform(session, kade.pm, tenant, platform)
            for index in range(first, min(count, first + per_tenant)):
                conn = add_connection(session, kade.pm, kade.vault, tenant, platform_name=platform,
                                      name=f"shop{index}", base_url=f"{base_url}/c/{index}",
                                      credentials={"token": fakehttp.TOKEN})
                update_setting(session, kade.pm, conn, "order_poll_interval", str(interval), actor="bench")
                activate(session, conn, actor="bench")
                session.flush()
                assert conn.id is not None
                ids[index] = conn.id
    return ids


def seed_steady_state(kade: Kade, ids: list[int], start: datetime, interval: int) -> None:
    """Last polls spread evenly so polls fall due uniformly from ``start`` on; products linked and
    today's daily jobs (credentials check, stock check) taken, as on a running system."""
    now = datetime.now(UTC)
    rows = [{"connection_id": cid, "last_poll_at": start - timedelta(seconds=interval * (1 - i / len(ids))),
             "last_products_at": now, "import_again": False, "import_failures": 0}
            for i, cid in enumerate(ids)]
    with kade.db.transaction() as session:
        session.execute(sa.insert(ConnectionRuntime), rows)
        for day in (now.date(), now.date() + timedelta(days=1)):
            for job in ("stock_check", "credentials_check"):
                session.add(Lease(name=f"{job}:{day.isoformat()}", holder="bench", expires_at=now + timedelta(days=3)))


def sample_marks(engine: sa.Engine, marks: dict[int, set[float]], stop: threading.Event) -> None:
    """Every second, the scheduler's poll marks; each changes at most once an interval, so none is missed."""
    query = sa.text("SELECT connection_id, last_poll_at FROM connection_runtime WHERE last_poll_at IS NOT NULL")
    while True:
        with engine.connect() as conn:
            for cid, at in conn.execute(query):
                marks.setdefault(cid, set()).add(at.replace(tzinfo=at.tzinfo or UTC).timestamp())
        if stop.wait(1.0):
            return


# ---------------------------------------------------------------------------------------------
# One size


@dataclass
class Result:
    connections: int
    polls: int = 0
    late: list[float] = field(default_factory=list)
    late_scheduler: list[float] = field(default_factory=list)
    late_queue: list[float] = field(default_factory=list)
    never: int = 0
    worker_statements: float = 0.0
    worker_commits: float = 0.0
    scheduler_statements: float = 0.0
    scheduler_per_tick: float = 0.0
    ticks: int = 0
    scheduler_cpu_cycle: float = 0.0
    scheduler_cpu_share: float = 0.0
    scheduler_rss: tuple[float, float] = (0.0, 0.0)
    worker_cpu_ms: float = 0.0
    worker_rss: float = 0.0
    window: float = 0.0
    setup_seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)
    top_worker: list[tuple[str, float]] = field(default_factory=list)
    top_scheduler: list[tuple[str, float]] = field(default_factory=list)


def delta(after: dict[int, Counter[str]], before: dict[int, Counter[str]], pids: set[int]) -> Counter[str]:
    total: Counter[str] = Counter()
    for pid in pids:
        total.update(after.get(pid, Counter()))
        total.subtract(before.get(pid, Counter()))
    return total


def run_size(n: int, args: argparse.Namespace, store: RecordingStore, base_url: str, dist_root: Path) -> Result:
    result = Result(connections=n, load=(os.getloadavg()[0], 0.0))
    interval = args.interval
    with tempfile.TemporaryDirectory() as tmp, temp_database() as url:
        counts_dir = Path(tmp) / "counts"
        counts_dir.mkdir()
        kade = make_kade(url, Path(tmp), plugins=[(fakehttp, fakehttp.PLATFORM)])
        began = time.monotonic()
        index_of = {cid: index for index, cid in create_connections(kade, n, args.per_tenant, base_url,
                                                                     interval).items()}
        result.setup_seconds = time.monotonic() - began
        env = {**os.environ, "KADE_REDIS_URL": REDIS_URL, "KADE_DATABASE_URL": url,
               "KADE_SECRET_KEY": kade.settings.secret_key, "KADE_DATA_DIR": tmp, "KADE_LOG_FORMAT": "json",
               "KADE_LOG_LEVEL": "WARNING", "KADE_BENCH_COUNT_DIR": str(counts_dir),
               "PYTHONPATH": os.pathsep.join([str(dist_root), str(ROOT), str(ROOT / "benchmarks")])}
        procs = Procs(env, Path(tmp))
        redis.Redis.from_url(REDIS_URL).flushdb()
        stop = threading.Event()
        marks: dict[int, set[float]] = {}
        sampler: threading.Thread | None = None
        try:
            workers = [procs.start(f"worker{i}", "worker", "--processes", "1", "--threads", str(args.threads))
                       for i in range(2)]
            for i, proc in enumerate(workers):
                procs.wait_for(proc, f"worker{i}", lambda i=i: READY_LINE in procs.log_text(f"worker{i}"), 60,
                               "ready")
            start = datetime.now(UTC) + timedelta(seconds=args.lead)
            seed_steady_state(kade, sorted(index_of), start, interval)
            store.take()
            sampler = threading.Thread(target=sample_marks, args=(kade.db.engine, marks, stop), daemon=True)
            sampler.start()
            scheduler = procs.start("scheduler", "scheduler")

            def leads() -> bool:
                with kade.db.session() as session:
                    lease = session.get(Lease, "scheduler", populate_existing=True)
                    return lease is not None
            procs.wait_for(scheduler, "scheduler", leads, 60, "the leader lease")
            t0 = start.timestamp()
            time.sleep(max(0.0, t0 - time.time()))
            window = args.cycles * interval
            cpu0 = {p.pid: cpu_seconds(p.pid) for p in procs.running}
            counts0 = read_counts(counts_dir)
            time.sleep(window)
            t1 = time.time()
            cpu1 = {p.pid: cpu_seconds(p.pid) for p in procs.running}
            counts1 = read_counts(counts_dir)
            sched_pids = set(group_pids(scheduler.pid))
            worker_pids = {pid for w in workers for pid in group_pids(w.pid)}
            result.scheduler_rss = rss_mb(scheduler.pid)
            result.worker_rss = sum(rss_mb(pid)[0] for pid in worker_pids)
            result.window = t1 - t0
            result.load = (result.load[0], os.getloadavg()[0])
            # let polls that fell due inside the window start (bounded: one more interval)
            time.sleep(min(interval, 10))
        finally:
            stop.set()
            if sampler is not None:
                sampler.join(timeout=10)
            procs.stop_all()
        requests = store.take()
        starts: dict[int, list[float]] = {}
        for index, at in requests:
            starts.setdefault(index, []).append(at)
        polls_in_window = sum(1 for _, at in requests if t0 <= at < t1)
        result.polls = polls_in_window
        for cid, values in marks.items():
            ordered = sorted(values)
            times = sorted(starts.get(index_of[cid], []))
            for prev, mark in itertools.pairwise(ordered):
                due = prev + interval
                if not t0 <= due < t1:
                    continue
                began_at = next((t for t in times if t >= mark), None)
                result.late_scheduler.append(mark - due)
                if began_at is None:
                    result.never += 1
                    continue
                result.late_queue.append(began_at - mark)
                result.late.append(began_at - due)
            last = ordered[-1] if ordered else None
            if last is not None and t0 <= last + interval < t1 - 2:
                result.never += 1  # due inside the window and never scheduled
        sched = delta(counts1, counts0, sched_pids)
        work = delta(counts1, counts0, worker_pids)
        polls = max(1, polls_in_window)
        result.worker_statements = work["statements"] / polls
        result.worker_commits = work["commits"] / polls
        result.scheduler_statements = sched["statements"] / polls
        result.ticks = sched["UPDATE leases"]
        result.scheduler_per_tick = sched["statements"] / max(1, result.ticks)
        sched_cpu = cpu1[scheduler.pid] - cpu0[scheduler.pid]
        result.scheduler_cpu_cycle = sched_cpu / args.cycles
        result.scheduler_cpu_share = sched_cpu / (t1 - t0)
        result.worker_cpu_ms = 1000 * sum(cpu1[w.pid] - cpu0[w.pid] for w in workers) / polls
        skip = {"statements", "commits"}
        result.top_worker = [(k, v / polls) for k, v in work.most_common() if k not in skip][:6]
        result.top_scheduler = [(k, v / max(1, result.ticks)) for k, v in sched.most_common() if k not in skip][:6]
        kade.close()
    return result


# ---------------------------------------------------------------------------------------------
# The scheduler's tick alone at sizes too large for this machine's workers


@dataclass
class TickCost:
    connections: int
    due_per_tick: float
    wall_ms: float
    cpu_ms: float
    statements: float


def tick_cost(n: int, interval: int, ticks: int, base_url: str) -> TickCost:
    """``Scheduler.tick`` in this process over ``n`` connections (cloned in SQL from one made through
    Kade), marks spread over ``interval``, the clock moved one second a tick, sends recorded in memory.
    What it leaves out — the broker's send per due poll — is measured in the full runs."""
    from kade.scheduler import Scheduler
    from tests.test_claims_and_scheduler import Recorder

    with tempfile.TemporaryDirectory() as tmp, temp_database() as url:
        kade = make_kade(url, Path(tmp), plugins=[(fakehttp, fakehttp.PLATFORM)])
        (template,) = create_connections(kade, 1, 1, base_url, interval).values()
        now = datetime.now(UTC)
        with kade.db.transaction() as session:
            session.execute(sa.text(
                "INSERT INTO connections (tenant_id, platform, name, base_url, auth_method, credentials_encrypted, "
                "settings, status, send_stock, send_shipments, created_at, updated_at, activated_at, webhook_token) "
                "SELECT tenant_id, platform, name || '-' || g, base_url, auth_method, credentials_encrypted, settings, "
                "status, send_stock, send_shipments, created_at, updated_at, activated_at, md5(random()::text || g) "
                "FROM connections, generate_series(1, :n) g WHERE id = :id"), {"n": n - 1, "id": template})
            session.execute(sa.text(
                "INSERT INTO connection_runtime (connection_id, last_poll_at, last_products_at, import_again, "
                "import_failures) SELECT id, :now - make_interval(secs => (id % :interval) + 0.5), :now, false, 0 "
                "FROM connections"), {"now": now, "interval": interval})
            for job in ("stock_check", "credentials_check"):
                for day in (now.date(), now.date() + timedelta(days=1)):
                    session.add(Lease(name=f"{job}:{day.isoformat()}", holder="bench",
                                      expires_at=now + timedelta(days=3)))
        with kade.db.transaction() as session:
            session.execute(sa.text("ANALYZE"))
        actors = Recorder()
        scheduler = Scheduler(kade, actors, holder="bench")  # type: ignore[arg-type]
        scheduler.tick(now)  # warm: imports, plugin lookups, the connection pool
        sent = len(actors.sent)
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        sa.event.listen(kade.db.engine, "before_cursor_execute", count)
        wall = cpu = 0.0
        for k in range(1, ticks + 1):
            w, c = time.perf_counter(), time.thread_time()
            scheduler.tick(now + timedelta(seconds=k))
            wall += time.perf_counter() - w
            cpu += time.thread_time() - c
        sa.event.remove(kade.db.engine, "before_cursor_execute", count)
        due = actors.count("import_orders") - sent + actors.count("link_products")
        kade.close()
    return TickCost(n, due / ticks, 1000 * wall / ticks, 1000 * cpu / ticks, statements[0] / ticks)


# ---------------------------------------------------------------------------------------------


def print_results(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(f"poll interval {args.interval}s, {args.cycles} cycles measured, scheduler tick 1 s, "
          f"2 workers x 1 process x {args.threads} threads, {args.per_tenant} connections per tenant")
    print(f"{'conns':>6} {'due/s':>6} {'polls/s':>7} {'late p50':>8} {'p95':>6} {'max':>6} {'sched p95':>9} "
          f"{'queue p95':>9} {'unstarted':>9} {'load':>9}")
    for r in results:
        worst = max(r.late, default=float("nan"))
        print(f"{r.connections:>6} {r.connections / args.interval:>6.0f} {r.polls / max(r.window, 1):>7.1f} "
              f"{percentile(r.late, 50):>8.2f} {percentile(r.late, 95):>6.2f} {worst:>6.2f} "
              f"{percentile(r.late_scheduler, 95):>9.2f} {percentile(r.late_queue, 95):>9.2f} {r.never:>9} "
              f"{r.load[0]:>4.1f}/{r.load[1]:<4.1f}")
    print("(late: due = previous mark + interval → the poll's first store request, s; sched: due → marked "
          "and sent; queue: sent → request; unstarted: due in the window, not started by its end + 10 s)")
    print()
    print(f"{'conns':>6} {'SQL/poll wrk':>12} {'commits':>7} {'SQL/poll sch':>12} {'SQL/tick':>8} {'ticks':>5} "
          f"{'sch CPU s/cyc':>13} {'sch CPU %':>9} {'sch RSS MB':>10} {'wrk CPU ms/poll':>15} {'wrk RSS MB':>10}")
    for r in results:
        print(f"{r.connections:>6} {r.worker_statements:>12.1f} {r.worker_commits:>7.1f} "
              f"{r.scheduler_statements:>12.2f} "
              f"{r.scheduler_per_tick:>8.1f} {r.ticks:>5} {r.scheduler_cpu_cycle:>13.2f} "
              f"{100 * r.scheduler_cpu_share:>9.1f} {r.scheduler_rss[0]:>5.0f}/{r.scheduler_rss[1]:<4.0f} "
              f"{r.worker_cpu_ms:>15.1f} {r.worker_rss:>10.0f}")
    print("(SQL: statements counted in the processes, per poll started in the window and per scheduler tick; "
          "RSS now/peak; worker RSS summed over both)")
    print()
    for r in results:
        late = percentile(r.late, 95)
        share = r.scheduler_cpu_share
        print(f"{r.connections:>6} connections: poll start p95 {late:.2f}s (target ≤ {TARGET_LATE_P95}s) "
              f"{verdict(late, TARGET_LATE_P95, higher_is_better=False)}; scheduler CPU {100 * share:.1f}% of a "
              f"core (target ≤ {100 * TARGET_SCHEDULER_CPU:.0f}%) "
              f"{verdict(share, TARGET_SCHEDULER_CPU, higher_is_better=False)}; setup {r.setup_seconds:.0f}s")
    last = results[-1]
    print()
    print(f"statements per poll at {last.connections} (workers): "
          + ", ".join(f"{k} {v:.1f}" for k, v in last.top_worker))
    print(f"statements per tick at {last.connections} (scheduler): "
          + ", ".join(f"{k} {v:.1f}" for k, v in last.top_scheduler))
    if len(results) > 1:
        first = results[0]
        ratio = last.connections / first.connections
        cpu = last.scheduler_cpu_cycle / first.scheduler_cpu_cycle if first.scheduler_cpu_cycle else float("nan")
        print(f"from {first.connections} to {last.connections} connections (x{ratio:.0f}): scheduler CPU per cycle "
              f"x{cpu:.1f}, statements per tick {first.scheduler_per_tick:.1f} → {last.scheduler_per_tick:.1f}, "
              f"worker statements per poll {first.worker_statements:.1f} → {last.worker_statements:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", default="200,500,1000,2000",
                        help="comma list of sizes, each run on a fresh database (default: %(default)s)")
    parser.add_argument("--interval", type=int, default=30, help="order poll interval, s (≥ 10; default: %(default)s)")
    parser.add_argument("--cycles", type=int, default=2, help="poll intervals measured per size (default: %(default)s)")
    parser.add_argument("--per-tenant", type=int, default=5, help="connections per tenant (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker process (default: %(default)s)")
    parser.add_argument("--tick-sizes", default="10000,50000",
                        help="sizes at which the scheduler's tick alone is timed in-process (empty: none)")
    parser.add_argument("--tick-interval", type=int, default=300,
                        help="poll interval for --tick-sizes, s (the platforms' default; default: %(default)s)")
    parser.add_argument("--lead", type=float, default=8.0,
                        help="seconds from seeding to the window's start, for the scheduler to boot")
    args = parser.parse_args()
    sizes = [int(s) for s in args.connections.split(",") if s.strip()]
    if args.interval < 10:
        parser.error("--interval must be at least 10 (Kade's minimum poll interval)")
    print(f"load before: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} cores; sizes {sizes}")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    store = RecordingStore()
    server = BackgroundServer(store).start()
    results = []
    try:
        with tempfile.TemporaryDirectory() as dist, pytest.MonkeyPatch.context() as mp:
            install_plugin_dist(Path(dist), mp, dist="kade-fakehttp", module="kade_fakehttp",
                                entry_name=fakehttp.PLATFORM,
                                source=f"from tests.support.fakehttp import {', '.join(fakehttp.HOOKS)}  # noqa\n"
                                       "import _stmtcount\n_stmtcount.install()\n")
            for n in sizes:
                result = run_size(n, args, store, server.url, Path(dist))
                results.append(result)
                print(f"  {n} connections: {result.polls} polls, late p95 {percentile(result.late, 95):.2f}s, "
                      f"scheduler {result.scheduler_cpu_cycle:.2f} CPU s/cycle, load {result.load[1]:.1f}",
                      flush=True)
        tick_sizes = [int(x) for x in args.tick_sizes.split(",") if x.strip()]
        costs = [tick_cost(n, args.tick_interval, 20, server.url) for n in tick_sizes]
    finally:
        server.stop()
        client.flushdb()
    print_results(results, args)
    if costs:
        print()
        print(f"the scheduler's tick alone, in-process, poll interval {args.tick_interval}s, 20 ticks a second apart "
              f"on a moved clock (broker sends not included), load {os.getloadavg()[0]:.1f}:")
        print(f"{'conns':>7} {'due/tick':>8} {'wall ms/tick':>12} {'CPU ms/tick':>11} {'SQL/tick':>8}")
        for c in costs:
            print(f"{c.connections:>7} {c.due_per_tick:>8.0f} {c.wall_ms:>12.1f} {c.cpu_ms:>11.1f} "
                  f"{c.statements:>8.1f}")
    print(f"load after: {os.getloadavg()[0]:.1f} (1 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
