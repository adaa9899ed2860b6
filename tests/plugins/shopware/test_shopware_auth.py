"""Tokens: fetched once and reused, renewed before their 600 s run out and once on a 401."""

from __future__ import annotations

import json

import pytest
from conftest import Shop

from kade.errors import AuthRejected, RateLimited
from kade.plugins.shopware import plugin
from kade.plugins.shopware.auth import RENEW_MARGIN, token_body
from kade.types import OrderQuery

TOKEN = "/api/oauth/token"


def _token_calls(shop: Shop) -> list[dict[str, str]]:
    return [json.loads(r.content) for r in shop.transport.requests if r.url.path == TOKEN]


def test_one_token_serves_many_calls(shop: Shop) -> None:
    ctx = shop.ctx()
    for _ in range(5):
        plugin.import_orders(ctx, OrderQuery())
    assert len(_token_calls(shop)) == 1
    assert _token_calls(shop)[0]["grant_type"] == "client_credentials"


def test_the_token_is_renewed_before_it_expires(shop: Shop) -> None:
    ctx = shop.ctx()
    plugin.import_orders(ctx, OrderQuery())
    shop.harness.clock.advance(600 - RENEW_MARGIN - 1)
    plugin.import_orders(ctx, OrderQuery())
    assert len(_token_calls(shop)) == 1
    shop.harness.clock.advance(2)  # inside the margin: a new token before Shopware would refuse the old one
    plugin.import_orders(ctx, OrderQuery())
    assert len(_token_calls(shop)) == 2
    assert 401 not in shop.transport.statuses


def test_a_401_renews_the_token_once(shop: Shop) -> None:
    ctx = shop.ctx()
    plugin.import_orders(ctx, OrderQuery())
    shop.sim.tokens.clear()  # the shop forgot every token (e.g. its cache was flushed)
    before = len(shop.transport.requests)
    plugin.import_orders(ctx, OrderQuery())
    paths = shop.transport.paths()[before:]
    assert paths == ["/api/search/order", TOKEN, "/api/search/order"]


def test_a_revoked_integration_is_auth_rejected_not_retried_forever(shop: Shop) -> None:
    ctx = shop.ctx()
    plugin.import_orders(ctx, OrderQuery())
    shop.harness.revoke_credentials()
    before = len(shop.transport.requests)
    with pytest.raises(AuthRejected, match="client_credentials grant"):
        plugin.import_orders(ctx, OrderQuery())
    assert shop.transport.paths()[before:] == ["/api/search/order", TOKEN]


def test_the_password_grant_sends_what_the_spec_requires(admin_shop: Shop) -> None:
    plugin.import_orders(admin_shop.ctx(), OrderQuery())
    [body] = _token_calls(admin_shop)
    assert body == {"grant_type": "password", "client_id": "administration", "scope": "write",
                    "username": "kade-admin", "password": admin_shop.harness.user.password}


def test_a_wrong_password_is_a_clear_auth_error(admin_shop: Shop) -> None:
    ctx = admin_shop.ctx(credentials={"username": "kade-admin", "password": "wrong"})
    with pytest.raises(AuthRejected, match="user credentials were incorrect"):
        plugin.check_connection(ctx)


def test_missing_credentials_name_the_field(shop: Shop) -> None:
    with pytest.raises(AuthRejected, match="client_secret"):
        token_body("client_credentials", {"client_id": "SWIA1"})
    with pytest.raises(AuthRejected, match="no login method"):
        token_body("api_key", {})


def test_the_oauth_brute_force_limiter_is_a_rate_limit(shop: Shop) -> None:
    ctx = shop.ctx(credentials={"client_id": "SWIAWRONG", "client_secret": "x"})
    for _ in range(10):
        with pytest.raises(AuthRejected):
            plugin.check_connection(ctx)
    with pytest.raises(RateLimited) as caught:
        plugin.check_connection(ctx)
    assert caught.value.retry_after > 0


def test_tokens_of_two_logins_never_mix(shop: Shop) -> None:
    integration = shop.ctx()
    admin = shop.ctx(auth_method="password", credentials={"username": "kade-admin",
                                                          "password": shop.harness.user.password})
    plugin.check_connection(integration)
    plugin.check_connection(admin)
    assert [c["grant_type"] for c in _token_calls(shop)] == ["client_credentials", "password"]
    assert len(shop.tokens.values) == 2


def test_check_connection_reports_the_version(shop: Shop) -> None:
    result = plugin.check_connection(shop.ctx())
    assert result is not None and result.ok and "Shopware 6.6" in result.message
