"""Fake HTTP stores served from a process of their own, driven from the test's.

Why: served from threads of the process that runs Kade's workers, the stores' request handling
shares its interpreter lock with the drain a benchmark times (``bench_outage``: a quarter of the
lock's samples at 10 shops). A store is a process of its own in real life. ``StoreHost`` runs
any number of ``HttpStore``s in one child process, each on its own port; ``RemoteStore`` gives
the parent the test-side helpers of one of them (the same names as ``HttpStore``'s), each a
call over a pipe. An error inside the child comes back as ``StoreHostError`` with its text.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import threading
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from tests.support.fakehttp import HttpStore, RequestRecord, StoreFaults


class StoreHostError(RuntimeError):
    """A call the store host could not run (the child's traceback is the message)."""


def _serve(pipe: multiprocessing.connection.Connection) -> None:
    """The child: make stores and run their helpers until told to close."""
    from kade.sim.server import BackgroundServer

    stores: list[HttpStore] = []
    servers: list[BackgroundServer] = []
    try:
        while (command := pipe.recv()) is not None:
            what, index, name, args, kwargs = command
            try:
                if what == "new":
                    store = HttpStore(**kwargs)
                    servers.append(BackgroundServer(store.app).start())
                    stores.append(store)
                    pipe.send((len(stores) - 1, servers[-1].url, store.page_size))
                else:
                    pipe.send(getattr(stores[index], name)(*args, **kwargs))
            except Exception:
                pipe.send(StoreHostError(traceback.format_exc()))
    finally:
        for server in servers:
            server.stop()
        pipe.close()


class StoreHost:
    """A child process serving fake stores; ``add_store`` makes one, ``close`` stops them all."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="kade-store-host", daemon=True)
        self._process.start()
        child.close()
        self._lock = threading.Lock()

    def call(self, what: str, index: int, name: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._pipe.send((what, index, name, args, kwargs))
            result = self._pipe.recv()
        if isinstance(result, StoreHostError):
            raise result
        return result

    def add_store(self, **kwargs: Any) -> RemoteStore:
        index, url, page_size = self.call("new", -1, "", **kwargs)
        return RemoteStore(self, index, url, page_size)

    def close(self) -> None:
        with self._lock, contextlib.suppress(OSError):  # the child is gone already
            self._pipe.send(None)
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> StoreHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteStore:
    """One store of a ``StoreHost``: ``HttpStore``'s test-side helpers, run in the host."""

    def __init__(self, host: StoreHost, index: int, url: str, page_size: int) -> None:
        self.host, self.index, self.url, self.page_size = host, index, url, page_size

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self.host.call("call", self.index, name, *args, **kwargs)

    def add_products(self, count: int, **kwargs: Any) -> list[str]:
        return list(self._call("add_products", count, **kwargs))

    def add_orders(self, count: int, *, products: Sequence[str], **kwargs: Any) -> list[str]:
        return list(self._call("add_orders", count, products=list(products), **kwargs))

    def set_faults(self, faults: StoreFaults) -> None:
        self._call("set_faults", faults)

    def set_token(self, token: str) -> None:
        self._call("set_token", token)

    def order_count(self) -> int:
        return int(self._call("order_count"))

    def report_counts(self) -> Counter[str]:
        return Counter(self._call("report_counts"))

    def snapshot_requests(self) -> list[RequestRecord]:
        return list(self._call("snapshot_requests"))

    def stock_of(self, remote_ids: Iterable[str]) -> dict[str, int | None]:
        return dict(self._call("stock_of", list(remote_ids)))
