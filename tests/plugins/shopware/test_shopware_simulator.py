"""The simulator is as strict as a shop: Criteria, state machines, tokens, loud gaps."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kade.plugins.shopware.harness import ShopwareHarness
from kade.plugins.shopware.simulator.errors import ShopwareError
from kade.plugins.shopware.simulator.machines import DELIVERY, MACHINES, ORDER
from kade.sim.transport import SyncASGITransport


class Api:
    def __init__(self) -> None:
        self.h = ShopwareHarness(auth_method="client_credentials")
        self.transport = SyncASGITransport(self.h.app())
        self.http = httpx.Client(transport=self.transport, base_url=self.h.base_url)
        token = self.http.post("/api/oauth/token", json={
            "grant_type": "client_credentials", "client_id": self.h.integration.access_key,
            "client_secret": self.h.integration.secret}).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def search(self, entity: str, criteria: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/api/search/{entity}", json=criteria, headers=self.headers)

    def close(self) -> None:
        self.http.close()
        self.transport.close()


@pytest.fixture
def api() -> Iterator[Api]:
    a = Api()
    yield a
    a.close()


def _numbers(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["orderNumber"] for o in response.json()["data"]]


def test_filters_sorting_and_paging(api: Api) -> None:
    seeded = api.h.seed_orders(5)
    api.h.cancel_order(seeded[1].remote_id)
    numbers = [s.number for s in seeded]
    assert _numbers(api.search("order", {"sort": [{"field": "orderNumber", "order": "DESC"}]})) == numbers[::-1]
    open_only = {"filter": [{"type": "equals", "field": "stateMachineState.technicalName", "value": "open"}]}
    assert _numbers(api.search("order", open_only)) == [n for i, n in enumerate(numbers) if i != 1]
    either = {"filter": [{"type": "multi", "operator": "or", "queries": [
        {"type": "equals", "field": "orderNumber", "value": numbers[0]},
        {"type": "prefix", "field": "order.orderNumber", "value": numbers[4]}]}]}
    assert _numbers(api.search("order", either)) == [numbers[0], numbers[4]]
    negated = {"filter": [{"type": "not", "queries": [
        {"type": "equalsAny", "field": "orderNumber", "value": "|".join(numbers[:4])}]}]}
    assert _numbers(api.search("order", negated)) == [numbers[4]]
    sort = [{"field": "orderNumber", "order": "ASC"}]
    page2 = api.search("order", {"page": 2, "limit": 2, "sort": sort, "total-count-mode": 1})
    assert _numbers(page2) == numbers[2:4] and page2.json()["total"] == 5
    past = api.search("order", {"page": 9, "limit": 2, "sort": sort, "total-count-mode": "exact"})
    assert _numbers(past) == [] and past.json()["total"] == 5  # a page past the end is empty


def test_ranges_compare_instants_across_offsets(api: Api) -> None:
    [order] = api.h.seed_orders(1)
    created = api.h.sim.orders[order.remote_id].created_at
    local = created.astimezone().isoformat()
    before = {"filter": [{"type": "range", "field": "createdAt", "parameters": {"gte": local}}]}
    assert _numbers(api.search("order", before)) == [order.number]
    after = {"filter": [{"type": "range", "field": "createdAt", "parameters": {"gt": local}}]}
    assert _numbers(api.search("order", after)) == []
    never_updated = {"filter": [{"type": "range", "field": "updatedAt", "parameters": {"gte": "2000-01-01"}}]}
    assert _numbers(api.search("order", never_updated)) == []  # updatedAt is null until a change


@pytest.mark.parametrize(("criteria", "message"), [
    ({"aggregations": [{"name": "x", "type": "count", "field": "id"}]}, "criteria keys aggregations"),
    ({"includes": {"order": ["id"]}}, "criteria keys includes"),
    ({"filter": [{"type": "equals", "field": "customFields.x", "value": 1}]}, 'field "customFields.x"'),
    ({"filter": [{"type": "fuzzy", "field": "orderNumber", "value": 1}]}, "filter type 'fuzzy'"),
    ({"associations": {"documents": {}}}, 'association "documents"'),
    ({"associations": {"lineItems": {"limit": 1}}}, 'inside association "lineItems"'),
])
def test_what_the_simulator_does_not_evaluate_is_a_clear_400(api: Api, criteria: dict[str, Any], message: str) -> None:
    response = api.search("order", criteria)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "SIMULATOR__UNSUPPORTED_CRITERIA" and message in error["detail"]


@pytest.mark.parametrize("criteria", [{"page": 0}, {"limit": 501}, {"filter": {}}, {"total-count-mode": "all"},
                                      {"filter": [{"type": "range", "field": "createdAt", "parameters": {}}]},
                                      {"sort": [{"field": "orderNumber", "order": "UP"}]}])
def test_bad_criteria_are_refused_with_a_pointer(api: Api, criteria: dict[str, Any]) -> None:
    response = api.search("order", criteria)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["status"] == "400" and error["source"]["pointer"].startswith("/")


def test_requests_it_does_not_model_are_loud(api: Api) -> None:
    for method, path in (("GET", "/api/order"), ("DELETE", "/api/product/" + "a" * 32),
                         ("POST", "/api/_action/order_transaction/" + "a" * 32 + "/state/pay")):
        response = api.http.request(method, path, headers=api.headers)
        assert response.status_code == 501 and "does not implement" in response.json()["errors"][0]["detail"]
    jsonapi = api.http.post("/api/search/order", json={}, headers={**api.headers, "Accept": "*/*"})
    assert jsonapi.status_code == 501 and "JSON:API" in jsonapi.json()["errors"][0]["detail"]
    [order] = api.h.seed_orders(1)
    delivery = api.h.sim.orders[order.remote_id].deliveries[0].id
    patch = api.http.patch(f"/api/order-delivery/{delivery}", json={"shippingCosts": {}}, headers=api.headers)
    assert patch.status_code == 501
    lenient = api.http.post("/api/_action/sync", json=[], headers={**api.headers, "fail-on-error": "false"})
    assert lenient.status_code == 501


def test_a_patch_replaces_the_tracking_list(api: Api) -> None:
    [order] = api.h.seed_orders(1)
    delivery = api.h.sim.orders[order.remote_id].deliveries[0]
    url = f"/api/order-delivery/{delivery.id}"
    assert api.http.patch(url, json={"trackingCodes": ["A"]}, headers=api.headers).status_code == 204
    answer = api.http.patch(url, params={"_response": "basic"}, json={"trackingCodes": ["B"]}, headers=api.headers)
    assert answer.status_code == 200 and answer.json()["data"]["trackingCodes"] == ["B"]
    assert delivery.tracking_codes == ["B"]


def test_token_requests_in_the_shapes_clients_send(api: Api) -> None:
    key, secret = api.h.integration.access_key, api.h.integration.secret
    basic = base64.b64encode(f"{key}:{secret}".encode()).decode()
    as_basic = api.http.post("/api/oauth/token", json={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"})
    assert as_basic.status_code == 200 and as_basic.json()["expires_in"] == 600
    user = api.h.user
    no_scope = api.http.post("/api/oauth/token", json={"grant_type": "password", "client_id": "administration",
                                                       "username": user.username, "password": user.password})
    assert no_scope.status_code == 200 and "refresh_token" in no_scope.json()
    refreshed = api.http.post("/api/oauth/token", json={"grant_type": "refresh_token", "client_id": "administration",
                                                        "refresh_token": no_scope.json()["refresh_token"]})
    assert refreshed.status_code == 200
    again = api.http.post("/api/oauth/token", json={"grant_type": "refresh_token", "client_id": "administration",
                                                    "refresh_token": no_scope.json()["refresh_token"]})
    assert again.status_code == 401  # a refresh token is used once


def test_tokens_expire_after_600_seconds_on_the_shop_clock(api: Api) -> None:
    assert api.search("order", {}).status_code == 200
    api.h.clock.advance(599)
    assert api.search("order", {}).status_code == 200
    api.h.clock.advance(2)
    expired = api.search("order", {})
    assert expired.status_code == 401 and expired.json()["errors"][0]["meta"]["hint"] == "Access token is invalid"


def test_an_illegal_transition_changes_nothing(api: Api) -> None:
    [order] = api.h.seed_orders(1)
    url = f"/api/_action/order/{order.remote_id}/state/complete"
    response = api.http.post(url, headers=api.headers)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["code"] == "SYSTEM__ILLEGAL_STATE_TRANSITION"
    assert error["meta"]["parameters"]["possibleTransitions"] == ["cancel", "process"]
    assert api.h.sim.orders[order.remote_id].state == "open" and api.h.sim.transitions == []


TRANSITIONS = ["ship", "ship_partially", "cancel", "reopen", "retour", "retour_partially", "process", "complete",
               "pay", "refund", "fail", "bogus"]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(MACHINES)), st.lists(st.sampled_from(TRANSITIONS), max_size=25))
def test_state_machines_only_ever_take_legal_transitions(machine_name: str, walk: list[str]) -> None:
    machine = MACHINES[machine_name]
    state = "open"
    for transition in walk:
        legal = transition in machine.transitions.get(state, {})
        try:
            after = machine.apply(state, transition, "id")
        except ShopwareError as err:
            assert not legal and err.status == 400
            assert err.meta is not None and err.meta["parameters"]["possibleTransitions"] == machine.possible(state)
            continue
        assert legal and after in machine.states
        state = after


def test_the_documented_delivery_graph() -> None:
    assert "ship_partially" not in DELIVERY.transitions["shipped_partially"]
    assert DELIVERY.transitions["shipped_partially"]["ship"] == "shipped"
    assert ORDER.possible("completed") == ["reopen"]
