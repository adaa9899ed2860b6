"""The fake stores' host process (``tests.support.storehost``): ``bench_outage`` drives its stores
through it, so its helpers must answer as ``HttpStore``'s do, over real HTTP, and a call the host
cannot run must fail loudly in the caller, not hang or return nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.support import fakehttp
from tests.support.storehost import StoreHost, StoreHostError


def test_a_hosted_store_serves_http_and_answers_its_helpers() -> None:
    with StoreHost() as host:
        store = host.add_store(page_size=2)
        other = host.add_store()
        products = store.add_products(3)
        assert store.add_orders(3, products=products) == ["O0", "O1", "O2"]
        assert (store.order_count(), other.order_count(), store.page_size) == (3, 0, 2)
        headers = {"Authorization": f"Bearer {fakehttp.TOKEN}"}
        page = httpx.get(f"{store.url}/api/orders", headers=headers).json()
        assert [o["id"] for o in page["orders"]] == ["O0", "O1"] and page["next"] == "2"
        store.set_token("rotated")
        assert httpx.get(f"{store.url}/api/orders", headers=headers).status_code == 401
        assert [(r.method, r.status) for r in store.snapshot_requests()] == [("GET", 200), ("GET", 401)]
        assert store.stock_of(["P0", "nope"]) == {"P0": 0, "nope": None}
        assert other.snapshot_requests() == []  # each store its own state


def test_a_call_the_host_cannot_run_raises_with_the_hosts_traceback() -> None:
    with StoreHost() as host:
        store = host.add_store()
        with pytest.raises(StoreHostError, match="ZeroDivisionError"):
            store.add_orders(1, products=[])  # no product to put on a line
        assert store.order_count() == 0  # the host goes on serving
