"""The import reads pages ahead of their storing on a helper thread (``kade.ingest.loop._Prefetch``)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kade.errors import PlatformError
from kade.ingest.loop import _Prefetch
from kade.types import OrderPage, OrderQuery


class _Pages:
    """A platform whose order pages are numbered; ``broken`` pages raise instead."""

    def __init__(self, count: int, broken: int | None = None) -> None:
        self.count, self.broken = count, broken
        self.fetched: list[int] = []
        self.lock = threading.Lock()

    def import_orders(self, ctx: Any, query: OrderQuery) -> OrderPage:
        n = int(query.page_token or 0)
        with self.lock:
            self.fetched.append(n)
        if n == self.broken:
            raise PlatformError(f"page {n} broke")
        return OrderPage(orders=[], next_page_token=str(n + 1) if n + 1 < self.count else None)


def _pages(platform: _Pages, **kwargs: Any) -> _Prefetch:
    return _Prefetch(platform, None, None, **kwargs)  # type: ignore[arg-type]


def test_every_page_in_order_and_the_last_one_announced_once_it_is_fetched() -> None:
    platform = _Pages(5)
    told: list[int] = []
    with _pages(platform, ahead=3, fetched=lambda: told.append(len(platform.fetched))) as pages:
        tokens = [page.next_page_token for page in pages]
    assert tokens == ["1", "2", "3", "4", None]
    assert told == [5]  # once, when the fifth page had been fetched


def test_a_single_page_is_fetched_on_the_callers_thread_and_announced() -> None:
    told: list[str] = []
    with _pages(_Pages(1), fetched=lambda: told.append(threading.current_thread().name)) as pages:
        assert [page.next_page_token for page in pages] == [None]
    assert told == [threading.current_thread().name]


def test_a_fetch_error_surfaces_where_its_page_is_taken_and_nothing_is_announced() -> None:
    platform = _Pages(5, broken=2)
    told: list[int] = []
    taken = []
    with pytest.raises(PlatformError, match="page 2 broke"), \
            _pages(platform, ahead=3, fetched=lambda: told.append(1)) as pages:
        for page in pages:
            taken.append(page.next_page_token)
    assert taken == ["1", "2"] and told == []


def test_an_import_that_stops_early_ends_the_helper_thread() -> None:
    """The storing gave up (the import lock was lost): the reader stops instead of waiting for
    room ahead of a storer that is gone, and the import returns."""
    platform = _Pages(50)
    prefetch = _pages(platform, ahead=2)
    with prefetch as pages:
        for _ in pages:
            break
    assert prefetch._thread is not None and not prefetch._thread.is_alive()
    assert len(platform.fetched) < 50
