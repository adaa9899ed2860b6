"""Kade's per-action overhead: a no-op action through the outbox path vs a bare Dramatiq actor.

Kade path, per action: commit the outbox row (its own transaction, as a caller would; the row
is marked sent in it and a message goes to the broker when it commits, unless one for the same
connection and kind is queued already — ``kade.batchmarks``), then on the worker: claim up to
``KADE_ACTION_BATCH`` due actions of the connection in one statement, load connection and
orders, check the origin rule, call the plugin once per action (the in-memory fake: no I/O),
record the outcomes and their events in one transaction.
Bare path: ``actor.send()`` and a worker running an empty function. Same Redis and broker (Kade's
as deployed: idle consumers woken by the enqueue), same process, same 4 worker threads;
PostgreSQL for Kade's rows.

Two cases: *flowing* (every message sent while the workers run; the producer's own commit is
part of Kade's time) and *backlog* (all queued first, then worked off, as after an outage), each
run ``--rounds`` times alternately; the medians are compared.

The flowing case is measured twice. With the producers in a process of their own (``process``),
as Kade runs: the warehouse API (``kade serve``) or the CLI commits the action, ``kade worker``
runs it. And with the producer as one more thread of the worker process (``thread``, how this
benchmark measured before December 2026): then the producer's commits and four worker threads
share one interpreter lock, and how many actions each message finds waiting depends on who gets
the interpreter when, so that case swings from run to run. Every round's ratio is printed.

Run: ``.venv/bin/python benchmarks/bench_dispatch.py [--actions 2000] [--batch 10] [--producer both]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import multiprocessing.connection
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import dramatiq
import redis
import sqlalchemy as sa
from _common import make_kade, temp_database
from sqlmodel import func, select

from kade.app import Kade
from kade.models import Action, ActionKind, ActionStatus, Order
from kade.outbox import add_action
from kade.redis_broker import PromptRedisBroker
from kade.runtime import Runtime
from tests.support.factories import make_connection
from tests.support.fakeplatform import FakePlatform, FakeStore

REDIS_URL = "redis://127.0.0.1:6379/11"
BARE_ACTOR = "bench.noop"


def wait(until: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the workers")
        time.sleep(0.005)


def bare_actor(broker: dramatiq.Broker, fn: Callable[[int], None]) -> dramatiq.Actor[[int], None]:
    return dramatiq.Actor(fn, broker=broker, actor_name=BARE_ACTOR, queue_name="bench", priority=0,
                          options={"max_retries": 0})


def enqueue(kade: Kade, tenant_id: int, connection_id: int, ids: list[int]) -> None:
    """One cancellation per order, each in a transaction of its own, as the warehouse API makes them."""
    for order_id in ids:
        with kade.db.transaction() as session:
            add_action(session, tenant_id=tenant_id, connection_id=connection_id, kind=ActionKind.CANCEL,
                       key=f"cancel:{order_id}", payload={"order_id": order_id, "reason": "bench"})


class Producer(Protocol):
    def bare(self, n: int) -> None: ...
    def kade(self, ids: list[int]) -> float: ...  # seconds the commits took
    def close(self) -> None: ...


class ThreadProducer:
    """The producer as one more thread of the worker process."""

    def __init__(self, kade: Kade, actor: dramatiq.Actor[[int], None], tenant_id: int, connection_id: int) -> None:
        self.app, self.actor, self.tenant_id, self.connection_id = kade, actor, tenant_id, connection_id

    def bare(self, n: int) -> None:
        for i in range(n):
            self.actor.send(i)

    def kade(self, ids: list[int]) -> float:
        started = time.perf_counter()
        enqueue(self.app, self.tenant_id, self.connection_id, ids)
        return time.perf_counter() - started

    def close(self) -> None:
        pass


def _produce(pipe: multiprocessing.connection.Connection, url: str, tenant_id: int, connection_id: int,
             batch: int) -> None:
    """The child: a Kade app that sends on commit (as ``kade serve`` does) and the bare actor."""
    with tempfile.TemporaryDirectory() as tmp:
        kade = make_kade(url, Path(tmp), plugins=[(FakePlatform(FakeStore()), "fake")], redis_url=REDIS_URL,
                         action_batch=batch)
        runtime = Runtime(kade, broker=PromptRedisBroker(url=REDIS_URL, namespace="kade")).send_on_commit()
        actor = bare_actor(runtime.broker, lambda i: None)
        producer = ThreadProducer(kade, actor, tenant_id, connection_id)
        pipe.send("ready")
        while (command := pipe.recv()) is not None:
            what, arg = command
            if what == "bare":
                producer.bare(arg)
                pipe.send(0.0)
            else:
                pipe.send(producer.kade(arg))
        runtime.stop()
        kade.close()


class ProcessProducer:
    """The producers in a process of their own, as the warehouse API and the workers run."""

    def __init__(self, url: str, tenant_id: int, connection_id: int, batch: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_produce, args=(child, url, tenant_id, connection_id, batch),
                                       daemon=True)
        self.process.start()
        if self.pipe.recv() != "ready":
            raise SystemExit("the producer process did not start")

    def _ask(self, what: str, arg: Any) -> float:
        self.pipe.send((what, arg))
        return float(self.pipe.recv())

    def bare(self, n: int) -> None:
        self._ask("bare", n)

    def kade(self, ids: list[int]) -> float:
        return self._ask("kade", ids)

    def close(self) -> None:
        self.pipe.send(None)
        self.process.join(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each case; the median is reported (the flowing case swings between runs)")
    parser.add_argument("--batch", type=int, default=10, help="KADE_ACTION_BATCH (1: one action per message)")
    parser.add_argument("--producer", choices=("process", "thread", "both"), default="both",
                        help="where the flowing case's producer runs (see the module's docstring)")
    args = parser.parse_args()
    n = args.actions
    modes = ("process", "thread") if args.producer == "both" else (args.producer,)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    store = FakeStore()
    per_round = n * (1 + len(modes))
    with tempfile.TemporaryDirectory() as tmp, temp_database() as url:
        kade = make_kade(url, Path(tmp), plugins=[(FakePlatform(store), "fake")], redis_url=REDIS_URL,
                         action_batch=args.batch)
        runtime = Runtime(kade, broker=PromptRedisBroker(url=REDIS_URL, namespace="kade")).send_on_commit()
        done = 0
        lock = threading.Lock()
        flowing: dict[str, dict[str, list[float]]] = {mode: {"bare": [], "kade": []} for mode in modes}
        backlog: dict[str, list[float]] = {"bare": [], "kade": []}
        producer_s: dict[str, list[float]] = {mode: [] for mode in modes}

        def bare_done() -> bool:
            return done >= n

        def noop(i: int) -> None:
            nonlocal done
            with lock:
                done += 1

        bare = bare_actor(runtime.broker, noop)
        producers: dict[str, Producer] = {}
        try:
            conn = make_connection(kade)
            tenant_id, connection_id = conn.tenant_id, conn.id or 0
            with kade.db.transaction() as session:
                session.execute(sa.insert(Order), [
                    {"tenant_id": tenant_id, "connection_id": connection_id, "remote_id": f"R{i}", "number": f"N{i}",
                     "status": "open", "billing_address": {}, "shipping_address": {}, "raw": {}}
                    for i in range(per_round * args.rounds)])
                order_ids = list(session.exec(select(Order.id).order_by(Order.id)).all())
            for mode in modes:
                producers[mode] = (ProcessProducer(url, tenant_id, connection_id, args.batch) if mode == "process"
                                   else ThreadProducer(kade, bare, tenant_id, connection_id))

            finished = 0

            def settled() -> bool:
                with kade.db.session() as session:
                    return int(session.exec(select(func.count()).select_from(Action)
                                            .where(Action.status == ActionStatus.DONE)).one()) >= finished

            for round_ in range(args.rounds):
                ids = iter(order_ids[per_round * round_:per_round * (round_ + 1)])
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

                for mode in modes:  # flowing: each message is sent while the workers run
                    producer = producers[mode]
                    done = 0
                    started = time.perf_counter()
                    producer.bare(n)
                    wait(bare_done)
                    flowing[mode]["bare"].append(time.perf_counter() - started)

                    finished += n
                    started = time.perf_counter()
                    producer_s[mode].append(producer.kade([next(ids) for _ in range(n)]))
                    wait(settled)
                    flowing[mode]["kade"].append(time.perf_counter() - started)

                assert runtime.worker is not None
                runtime.worker.pause()
                enqueue(kade, tenant_id, connection_id, [next(ids) for _ in range(n)])
                finished += n
                started = time.perf_counter()
                runtime.worker.resume()
                wait(settled)
                backlog["kade"].append(time.perf_counter() - started)
                runtime.worker.pause()
        finally:
            for producer in producers.values():
                producer.close()
            runtime.stop()
            kade.close()
            client.flushdb()

    assert len(store.cancellations) == per_round * args.rounds, len(store.cancellations)
    print(f"{n} no-op actions per run, {args.threads} worker threads, Redis broker, PostgreSQL, "
          f"KADE_ACTION_BATCH={args.batch}; {args.rounds} rounds, load {os.getloadavg()[0]:.1f} (1 min), "
          f"{os.cpu_count()} cores")
    cases = [(f"flowing, producer in {'a process of its own' if mode == 'process' else 'a thread of the workers'}"
              " (sent while the workers run)", flowing[mode],
              f"  (the producer's commits alone: {statistics.median(producer_s[mode]) / n * 1000:.2f} ms each)")
             for mode in modes]
    cases.append(("backlog (all queued, then worked off)", backlog, ""))
    for label, runs, extra in cases:
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
