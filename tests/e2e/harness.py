"""Helpers for the end-to-end resilience tests: worker processes, shop setup, polling, checks.

Why a module of its own: the tests kill and restart real ``kade worker`` processes, and every
wait must be a poll with a deadline (never a fixed sleep), with a message saying what was left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlmodel import col, func, select

from kade.app import Kade
from kade.catalog import link_store_products
from kade.connections import activate, add_connection, update_setting
from kade.ingest import import_orders
from kade.models import Action, ActionKind, ActionStatus, Order, Product, ProductLink, Tenant
from kade.runtime import Runtime
from kade.shipments import create_shipment
from kade.stock import effective_stock, set_stock
from kade.tenants import add_tenant, enable_platform
from tests.support.fakehttp import TOKEN, HttpStore

#: the ``kade`` script next to the interpreter running the tests (the project's venv)
KADE_BIN = str(Path(sys.executable).parent / "kade")
READY_LINE = "is ready for action"


# ---------------------------------------------------------------------------------------------
# Worker processes


def _group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the process group (zombies may linger unreaped)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


class WorkerPool:
    """``kade worker`` subprocesses, each in its own session so a kill takes all its processes."""

    def __init__(self, env: dict[str, str], logdir: Path) -> None:
        self.env = env
        self.logdir = logdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: dict[int, tuple[Path, IO[bytes]]] = {}

    def start(self, *, processes: int = 1, threads: int = 4) -> subprocess.Popen[bytes]:
        path = self.logdir / f"worker-{len(self.procs)}.log"
        log = path.open("wb")
        proc = subprocess.Popen([KADE_BIN, "worker", "--processes", str(processes), "--threads", str(threads)],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        self._logs[proc.pid] = (path, log)
        return proc

    def log_text(self, proc: subprocess.Popen[bytes]) -> str:
        return self._logs[proc.pid][0].read_text(errors="replace")

    def wait_ready(self, proc: subprocess.Popen[bytes], processes: int = 1, timeout: float = 30.0) -> None:
        """Poll the worker's log until each of its processes said it is ready."""
        deadline = time.monotonic() + timeout
        while self.log_text(proc).count(READY_LINE) < processes:
            if proc.poll() is not None:
                raise AssertionError(f"worker exited with {proc.returncode}:\n{self.log_text(proc)[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker not ready after {timeout}s:\n{self.log_text(proc)[-3000:]}")
            time.sleep(0.05)

    def kill(self, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
        """SIGKILL the worker and every process it forked; return once none is left running."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while _group_alive(proc.pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"processes of worker group {proc.pid} survived SIGKILL")
            time.sleep(0.02)

    def close(self) -> None:
        for proc in self.procs:
            self.kill(proc)
        for _, log in self._logs.values():
            log.close()


# ---------------------------------------------------------------------------------------------
# A shop with orders, products, shipments and stock changes


def setup_shop(kade: Kade, url: str, *, platform: str, name: str = "shop", tenant: str = "acme",
               import_now: bool = True) -> int:
    """An active connection to the fake HTTP store, with its products linked and orders imported."""
    with kade.db.transaction() as session:
        row = session.exec(select(Tenant).where(Tenant.slug == tenant)).first() or add_tenant(session, tenant)
        enable_platform(session, kade.pm, row, platform)
        conn = add_connection(session, kade.pm, kade.vault, row, platform_name=platform, name=name, base_url=url,
                              credentials={"token": TOKEN})
        update_setting(session, kade.pm, conn, "send_stock", "on")
        update_setting(session, kade.pm, conn, "send_shipments", "on")
        activate(session, conn, actor="test")
        session.flush()
        assert conn.id is not None
        connection_id = conn.id
    link_store_products(kade, connection_id)
    if import_now:
        import_orders(kade, connection_id)
    return connection_id


def make_work(kade: Kade, connection_id: int, *, stock_rounds: int = 2, seed: int = 1) -> list[int]:
    """Ship every open order and change every product's stock ``stock_rounds`` times (coalesced).

    Returns the ids of the outbox actions this created, as the caller would dispatch them.
    """
    window = kade.settings.stock_window
    with kade.db.transaction() as session:
        before = session.exec(select(func.max(Action.id))).one() or 0
        tenant = session.exec(select(Tenant).join(Order, col(Order.tenant_id) == col(Tenant.id))).first()
        assert tenant is not None
        for order in session.exec(select(Order).where(Order.connection_id == connection_id)
                                  .order_by(col(Order.id))).all():
            create_shipment(session, order, carrier="PostNL", tracking_code=f"3S{order.remote_id}")
        skus = session.exec(
            select(Product.sku).join(ProductLink, col(ProductLink.product_id) == col(Product.id))
            .where(ProductLink.connection_id == connection_id).order_by(col(Product.id))
        ).all()
        for r in range(stock_rounds):
            for i, sku in enumerate(skus):
                set_stock(session, tenant, sku, (i * 7 + r * 13 + seed) % 50 + 1, window=window)
        session.flush()
        ids = session.exec(select(Action.id).where(col(Action.id) > before)).all()
    return [i for i in ids if i is not None]


def action_summary(kade: Kade) -> Counter[tuple[str, str]]:
    with kade.db.session() as session:
        rows = session.exec(select(Action.kind, Action.status, func.count()).group_by(
            col(Action.kind), col(Action.status))).all()
    return Counter({(str(kind), str(status)): int(n) for kind, status, n in rows})


def count_running(kade: Kade) -> int:
    with kade.db.session() as session:
        return int(session.exec(select(func.count()).select_from(Action)
                                .where(Action.status == ActionStatus.RUNNING)).one())


def all_settled(kade: Kade) -> bool:
    """No action left pending or running (done, failed or superseded ones are settled)."""
    with kade.db.session() as session:
        left = session.exec(select(func.count()).select_from(Action).where(
            col(Action.status).in_([ActionStatus.PENDING, ActionStatus.RUNNING]))).one()
    return int(left) == 0


def drive(runtime: Runtime, until: Callable[[], bool], *, lease: float, timeout: float, every: float = 0.25,
          what: str = "") -> None:
    """Act as the scheduler: sweep every ``every`` seconds until ``until()`` holds, or fail."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached after {timeout}s; "
                                 f"actions: {dict(action_summary(runtime.kade))}")
        runtime.sweep(lease=lease)
        time.sleep(every)


def wait_for(until: Callable[[], bool], *, timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(every)


# ---------------------------------------------------------------------------------------------
# The checks every scenario ends with


def assert_shipments_exactly_once(kade: Kade, store: HttpStore, *, connection_id: int | None = None) -> int:
    """Every shipment (of ``connection_id``, the store's connection, when several stores run)
    reported exactly once (none missing, none twice) and every action done."""
    query = select(Action).where(Action.kind == ActionKind.SHIPMENT)
    if connection_id is not None:
        query = query.where(Action.connection_id == connection_id)
    with kade.db.session() as session:
        keys = {f"kade-shipment-{a.payload['shipment_id']}": a.status for a in session.exec(query)}
    counts = store.report_counts()
    twice = {k: n for k, n in counts.items() if n > 1}
    missing = sorted(set(keys) - set(counts))
    assert not twice, f"shipments reported more than once: {twice}"
    assert not missing, f"shipments never reported: {missing[:10]} (+{max(0, len(missing) - 10)})"
    assert set(counts) == set(keys), "the store got reports for shipments Kade does not know"
    not_done = {k: s for k, s in keys.items() if s != ActionStatus.DONE}
    assert not not_done, f"shipment actions not done: {not_done}"
    return len(keys)


def assert_stock_converged(kade: Kade, store: HttpStore, connection_id: int) -> int:
    """The store's stock equals the warehouse's for every linked product; no stock action is stuck."""
    with kade.db.session() as session:
        links = session.exec(select(ProductLink).where(ProductLink.connection_id == connection_id)).all()
        expected = {}
        for link in links:
            product = session.get(Product, link.product_id)
            assert product is not None
            expected[link.remote_id] = effective_stock(session, product)
        # with its attempts and last error: a stuck action says why (seen once in a recovery run)
        stuck = session.exec(select(Action.id, Action.status, Action.attempts, Action.last_error).where(
            Action.kind == ActionKind.STOCK,
            sa.not_(col(Action.status).in_([ActionStatus.DONE, ActionStatus.CANCELLED])))).all()
    assert not stuck, f"stock actions not done: {stuck}"
    actual = store.stock_of(list(expected))
    wrong = {rid: (actual[rid], want) for rid, want in expected.items() if actual[rid] != want}
    assert not wrong, f"store stock differs from the warehouse (store, warehouse): {dict(list(wrong.items())[:10])}"
    return len(expected)
