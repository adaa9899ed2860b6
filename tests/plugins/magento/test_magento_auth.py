"""OAuth 1.0a as Magento checks it, the bearer switch, errors with placeholders, and migration."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from magento_testkit import BASE_URL, Magento

from kade.errors import AuthRejected
from kade.plugins.magento import plugin
from kade.plugins.magento.auth import OAuth1, base_string, sign
from kade.plugins.magento.client import fill
from kade.plugins.magento.simulator import oauth as sim_oauth
from kade.types import OrderQuery

PATH = "/rest/default/V1/store/storeConfigs"


def _signed(m: Magento, credentials: dict[str, str] | None = None, *, nonce: str | None = None,
            skew: float = 0.0) -> httpx.Response:
    now = m.ctx().now
    auth = OAuth1(credentials or m.oauth(), now=lambda: now() + timedelta(seconds=skew),
                  **({"nonce": lambda: nonce} if nonce else {}))
    return m.http.get(f"{BASE_URL}{PATH}", auth=auth)


def test_the_plugin_and_the_store_agree_on_signatures_computed_apart() -> None:
    params = [("oauth_nonce", "n"), ("searchCriteria[pageSize]", "2"), ("oauth_consumer_key", "k a")]
    url = "https://shop.example/rest/default/V1/orders"
    assert base_string("GET", url, params) == sim_oauth.base_string("GET", url, params)
    assert base_string("GET", url, params).startswith("GET&https%3A%2F%2Fshop.example%2Frest")
    ours = sign("GET", url, params, "c&s", "t s")
    assert ours == sim_oauth.signature("GET", url, params, "c&s", "t s", "HMAC-SHA256")
    assert ours != sign("GET", url, params, "c&s", "t  s"), "the token secret is part of the key"


def test_a_signed_request_is_accepted(magento: Magento) -> None:
    assert _signed(magento).status_code == 200


def test_a_wrong_secret_is_refused(magento: Magento) -> None:
    answer = _signed(magento, {**magento.oauth(), "access_token_secret": "0" * 32})
    assert answer.status_code == 401
    assert answer.json()["message"] == "The signature is invalid. Verify and try again."


def test_a_replayed_nonce_is_refused(magento: Magento) -> None:
    assert _signed(magento, nonce="same-nonce").status_code == 200
    again = _signed(magento, nonce="same-nonce")
    assert again.status_code == 401 and "nonce is already being used" in again.json()["message"]


@pytest.mark.parametrize("skew", [-700.0, 700.0])
def test_a_timestamp_outside_the_window_is_refused(magento: Magento, skew: float) -> None:
    answer = _signed(magento, skew=skew)
    assert answer.status_code == 401 and "oauth_timestamp" in answer.json()["message"]
    assert _signed(magento, skew=skew / 2).status_code == 200


def test_the_query_string_is_signed(magento: Magento) -> None:
    now = magento.ctx().now
    auth = OAuth1(magento.oauth(), now=now)
    request = magento.http.build_request("GET", f"{BASE_URL}/rest/default/V1/orders",
                                         params={"searchCriteria[pageSize]": "1"})
    request.headers["Authorization"] = auth.header("GET", request.url)
    request.url = request.url.copy_merge_params({"searchCriteria[pageSize]": "50"})  # tampered after signing
    assert magento.http.send(request).status_code == 401


def test_bearer_works_only_when_the_store_allows_it(magento: Magento) -> None:
    ctx = magento.ctx("bearer")
    with pytest.raises(AuthRejected) as refused:
        plugin.import_orders(ctx, OrderQuery())
    assert "Magento_Sales::actions_view" in refused.value.message, "the %resources placeholder is filled in"
    assert "migrate this connection to oauth1" in refused.value.message
    magento.sim.bearer_enabled = True
    assert plugin.import_orders(ctx, OrderQuery()).orders == ()


def test_placeholders_are_filled_from_lists_and_objects() -> None:
    assert fill('SKU "%1" and %2', ["A-1", "B"]) == 'SKU "A-1" and B'
    assert fill("%1 %10", list("abcdefghij")) == "a j"
    assert fill("access %resources.", {"resources": "Magento_Sales::ship"}) == "access Magento_Sales::ship."
    assert fill("no parameters %1", None) == "no parameters %1"


def test_migration_bearer_to_oauth1_is_verified_with_a_signed_call(magento: Magento) -> None:
    magento.sim.bearer_enabled = True
    ctx = magento.ctx("bearer")
    before = len(magento.transport.exchanges)
    result = plugin.migrate_connection(ctx, "oauth1", magento.oauth())
    assert result.auth_method == "oauth1" and set(result.credentials) == {
        "consumer_key", "consumer_secret", "access_token", "access_token_secret"}
    [(request, response)] = magento.transport.exchanges[before:]
    assert request.headers["authorization"].startswith("OAuth ") and response.status_code == 200


def test_migration_with_a_wrong_secret_is_refused_before_anything_changes(magento: Magento) -> None:
    magento.sim.bearer_enabled = True
    with pytest.raises(AuthRejected, match="new oauth1 credentials were refused"):
        plugin.migrate_connection(magento.ctx("bearer"), "oauth1", {**magento.oauth(), "consumer_secret": "x" * 32})
    with pytest.raises(AuthRejected, match="lack consumer_secret"):
        plugin.migrate_connection(magento.ctx("bearer"), "oauth1",
                                  {k: v for k, v in magento.oauth().items() if k != "consumer_secret"})
