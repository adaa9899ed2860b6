"""Kade's per-action overhead: a no-op action through the outbox path vs a bare Dramatiq actor.

Kade path, per action: commit the outbox row (its own transaction, as a caller would; the row
is marked sent in it and a message goes to the broker when it commits, unless one for the same
connection and kind is queued already — ``kade.batchmarks``), then on the worker: claim up to
``KADE_ACTION_BATCH`` due actions of the connection in one statement, load connection and
orders, check the origin rule, call the plugin once per action (the in-memory fake: no I/O),
record the outcomes and their events in one transaction.
Bare path: ``actor.send()`` and a worker running an empty function. Same Redis, same process,
same 4 worker threads; PostgreSQL for Kade's rows.

Two cases: *flowing* (every message sent while the workers run; the producer's own commit is
part of Kade's time) and *backlog* (all queued first, then worked off, as after an outage), each
run ``--rounds`` times alternately; the medians are compared. The flowing case swings from run
to run (one process, five busy threads, one GIL: how many actions each message finds waiting
depends on who gets the interpreter when), so every round's ratio is printed too.

Run: ``.venv/bin/python benchmarks/bench_dispatch.py [--actions 2000] [--batch 10]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import dramatiq
import redis
import sqlalchemy as sa
from _common import make_kade, temp_database
from dramatiq.brokers.redis import RedisBroker
from sqlmodel import func, select

from kade.models import Action, ActionKind, ActionStatus, Order
from kade.outbox import add_action
from kade.runtime import Runtime
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform, FakeStore

REDIS_URL = "redis://127.0.0.1:6379/11"


def wait(until: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the workers")
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each case; the median is reported (the flowing case swings between runs)")
    parser.add_argument("--batch", type=int, default=10, help="KADE_ACTION_BATCH (1: one action per message)")
    args = parser.parse_args()
    n = args.actions
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    store = FakeStore()
    with tempfile.TemporaryDirectory() as tmp, temp_database() as url:
        kade = make_kade(url, Path(tmp), plugins=[(FakePlatform(store), "fake")], redis_url=REDIS_URL,
                         action_batch=args.batch)
        runtime = Runtime(kade, broker=RedisBroker(url=REDIS_URL, namespace="kade")).send_on_commit()
        done = 0
        lock = threading.Lock()
        flowing: dict[str, list[float]] = {"bare": [], "kade": []}
        backlog: dict[str, list[float]] = {"bare": [], "kade": []}
        producer: list[float] = []

        def bare_done() -> bool:
            return done >= n

        def noop(i: int) -> None:
            nonlocal done
            with lock:
                done += 1

        bare = dramatiq.Actor(noop, broker=runtime.broker, actor_name="bench.noop", queue_name="bench",
                              priority=0, options={"max_retries": 0})
        try:
            conn = make_connection(kade)
            with kade.db.transaction() as session:
                session.execute(sa.insert(Order), [
                    {"tenant_id": conn.tenant_id, "connection_id": conn.id, "remote_id": f"R{i}", "number": f"N{i}",
                     "status": "open", "billing_address": {}, "shipping_address": {}, "raw": {}}
                    for i in range(2 * n * args.rounds)])
                order_ids = list(session.exec(select(Order.id).order_by(Order.id)).all())

            def settled(count: int) -> Callable[[], bool]:
                def check() -> bool:
                    with kade.db.session() as session:
                        return int(session.exec(select(func.count()).select_from(Action)
                                                .where(Action.status == ActionStatus.DONE)).one()) >= count
                return check

            def enqueue(ids: list[int]) -> None:
                for order_id in ids:
                    with kade.db.transaction() as session:
                        add_action(session, tenant_id=conn.tenant_id, connection_id=conn.id or 0,
                                   kind=ActionKind.CANCEL, key=f"cancel:{order_id}",
                                   payload={"order_id": order_id, "reason": "bench"})

            for round_ in range(args.rounds):
                # A backlog: every message is queued before the workers start (bare), or while
                # they are paused — the case after an outage or a closed warehouse day.
                done = 0
                for i in range(n):
                    bare.send(i)
                started = time.perf_counter()
                if round_ == 0:
                    runtime.start(threads=args.threads, tick=0)
                else:
                    assert runtime.worker is not None
                    runtime.worker.resume()
                wait(bare_done)
                backlog["bare"].append(time.perf_counter() - started)

                # Flowing: each message is sent while the workers run.
                done = 0
                started = time.perf_counter()
                for i in range(n):
                    bare.send(i)
                wait(bare_done)
                flowing["bare"].append(time.perf_counter() - started)

                ids = order_ids[2 * n * round_:2 * n * (round_ + 1)]
                started = time.perf_counter()
                enqueue(ids[:n])
                producer.append(time.perf_counter() - started)
                wait(settled(2 * n * round_ + n))
                flowing["kade"].append(time.perf_counter() - started)

                assert runtime.worker is not None
                runtime.worker.pause()
                enqueue(ids[n:])
                started = time.perf_counter()
                runtime.worker.resume()
                wait(settled(2 * n * (round_ + 1)))
                backlog["kade"].append(time.perf_counter() - started)
                runtime.worker.pause()
        finally:
            runtime.stop()
            kade.close()
            client.flushdb()

    assert len(store.cancellations) == 2 * n * args.rounds, len(store.cancellations)
    print(f"{n} no-op actions per run, {args.threads} worker threads, Redis broker, PostgreSQL, "
          f"KADE_ACTION_BATCH={args.batch}; {args.rounds} rounds, load {os.getloadavg()[0]:.1f} (1 min), "
          f"{os.cpu_count()} cores")
    for label, runs, extra in (
        ("flowing (sent while the workers run)", flowing,
         f"  (the producer's commits alone: {statistics.median(producer) / n * 1000:.2f} ms each)"),
        ("backlog (all queued, then worked off)", backlog, ""),
    ):
        bare_t, kade_t = statistics.median(runs["bare"]), statistics.median(runs["kade"])
        ratios = sorted(k / b for k, b in zip(runs["kade"], runs["bare"], strict=True))
        ratio = kade_t / bare_t
        print(f"{label}, median of the rounds")
        print(f"  bare Dramatiq actor : {bare_t:6.2f} s  {n / bare_t:7.0f}/s  {bare_t / n * 1000:6.2f} ms each")
        print(f"  Kade action path    : {kade_t:6.2f} s  {n / kade_t:7.0f}/s  {kade_t / n * 1000:6.2f} ms each{extra}")
        print(f"  ratio Kade / bare   : {ratio:.1f}x (rounds: {', '.join(f'{r:.1f}' for r in ratios)})  "
              f"target <= 2x  {'OK' if ratio <= 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
