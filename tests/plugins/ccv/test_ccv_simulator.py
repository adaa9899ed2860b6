"""The simulator is as strict as the shop: hosts, paths, faults through kade.sim, signed errors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from kade.errors import OutcomeUnknown, TransientError
from kade.plugins.ccv.client import CcvClient
from kade.plugins.ccv.simulator.signing import digest
from kade.plugins.ccv.simulator.state import CcvState
from kade.sim.base import Faults
from kade.types import ConnectionContext

from .conftest import BASE


def _signed(http: httpx.Client, key, clock, method: str, url: str, body: bytes = b"") -> httpx.Response:
    date = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    uri = httpx.URL(url).raw_path.decode()
    headers = {"x-public": key.public, "x-date": date, "content-type": "application/json",
               "x-hash": digest(key.public, method, uri, body, date, key.secret)}
    return http.request(method, url, headers=headers, content=body or None)


def test_a_scripted_error_answers_in_ccvs_body_and_is_signed(http, key, clock, state: CcvState) -> None:
    state.inject("error", "/api/rest/v1/orders", status=503)
    answer = _signed(http, key, clock, "GET", f"{BASE}/api/rest/v1/orders/")
    assert answer.status_code == 503
    assert set(answer.json()) >= {"code", "status", "developermessage"} and answer.json()["status"] == 503
    assert answer.headers["x-hash"] == digest(key.public, "GET", "/api/rest/v1/orders/", answer.content,
                                              answer.headers["x-date"], key.secret)
    assert state.scripted_faults.fired and not state.scripted_faults


def test_a_dropped_answer_to_a_patch_was_applied(ctx: ConnectionContext, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=1), 1)])
    state.inject("timeout_after_apply", r"/api/rest/v1/orders/\d+/?$", method="PATCH")
    with pytest.raises(OutcomeUnknown):
        CcvClient(ctx).patch(f"orders/{order.id}", {"status": 5})
    assert order.status == 5


def test_random_faults_come_from_the_shared_layer(ctx: ConnectionContext, state: CcvState) -> None:
    state.faults = Faults(error_rate=1.0, paths=("/api/rest/v1/products",))
    with pytest.raises(TransientError, match=r"500"):
        CcvClient(ctx).get("products")
    assert CcvClient(ctx).collection("orders")[0] == []


def test_a_scripted_rate_limit_is_ccvs_429(ctx: ConnectionContext, state: CcvState) -> None:
    from kade.errors import RateLimited

    state.inject("rate_limit", "/", retry_after=2)
    with pytest.raises(RateLimited) as caught:
        CcvClient(ctx).get("orders")
    assert caught.value.code == "429.11" and caught.value.retry_after == 2


def test_another_host_and_a_path_outside_the_api_are_404(http, key, clock) -> None:
    assert _signed(http, key, clock, "GET", "https://other.ccvshop.test/api/rest/v1/orders/").status_code == 404
    answer = _signed(http, key, clock, "GET", f"{BASE}/api/rest/v2/orders/")
    assert answer.status_code == 404 and answer.json()["code"] == "404.20"


def test_a_request_without_the_three_headers_is_401(http) -> None:
    answer = http.get(f"{BASE}/api/rest/v1/orders/")
    assert answer.status_code == 401 and "x-public" in answer.json()["developermessage"]
    assert "x-hash" not in answer.headers


def test_a_body_changed_after_signing_is_refused(http, key, clock, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A", stock=1), 1)])
    date = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    uri = f"/api/rest/v1/orders/{order.id}/"
    headers = {"x-public": key.public, "x-date": date, "content-type": "application/json",
               "x-hash": digest(key.public, "PATCH", uri, b'{"status":2}', date, key.secret)}
    answer = http.patch(f"{BASE}{uri}", headers=headers, content=b'{"status":8}')
    assert answer.status_code == 401 and answer.json()["code"] == "401.40"
    assert order.status == 1


def test_the_query_string_is_part_of_the_signature(http, key, clock) -> None:
    date = datetime.fromtimestamp(clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"x-public": key.public, "x-date": date,
               "x-hash": digest(key.public, "GET", "/api/rest/v1/orders/?size=10", b"", date, key.secret)}
    assert http.get(f"{BASE}/api/rest/v1/orders/?size=10", headers=headers).status_code == 200
    assert http.get(f"{BASE}/api/rest/v1/orders/?size=11", headers=headers).status_code == 401


def test_collections_link_the_next_page(ctx: ConnectionContext, state: CcvState) -> None:
    product = state.add_product("A", stock=1)
    for _ in range(3):
        state.create_order([(product, 1)])
    data = CcvClient(ctx).get("orders", {"start": 0, "size": 2})
    assert len(data["items"]) == 2 and "start=2" in data["next"] and data["previous"] is None
    last = CcvClient(ctx).get("orders", {"start": 2, "size": 2})
    assert len(last["items"]) == 1 and last["next"] is None and "start=0" in last["previous"]
