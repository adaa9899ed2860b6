"""Both Basic logins, clusters, languages, and the migration between the logins."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from kade.errors import AuthRejected, NotFound
from kade.plugins.lightspeed import plugin as ls
from kade.plugins.lightspeed.auth import app_password, basic_login, install_signature, verify_install
from kade.plugins.lightspeed.client import LightspeedClient

EU = "https://api.webshopapp.com"
US = "https://api.shoplightspeed.com"


def test_app_password_is_md5_of_token_then_secret() -> None:
    assert app_password("tok", "sec") == hashlib.md5(b"toksec").hexdigest()
    user, password = basic_login("app", {"app_key": "k" * 32, "app_secret": "s" * 32, "shop_token": "t" * 32})
    assert (user, password) == ("k" * 32, hashlib.md5(("t" * 32 + "s" * 32).encode()).hexdigest())


@pytest.mark.parametrize("credentials, reason", [
    ({"api_key": "a" * 32}, "lack api_secret"),
    ({"api_key": "a" * 31, "api_secret": "b" * 32}, "must be 32 characters, not 31"),
    ({"api_key": "a" * 32, "api_secret": "   "}, "lack api_secret"),
])
def test_malformed_credentials_say_what_is_wrong(credentials: dict[str, str], reason: str) -> None:
    with pytest.raises(AuthRejected, match=reason):
        basic_login("api_key", credentials)


def test_unknown_login_method_is_refused() -> None:
    with pytest.raises(AuthRejected, match="no login method 'oauth'"):
        basic_login("oauth", {})


def test_install_callback_signature() -> None:
    params = {"language": "nl", "shop_id": "123", "timestamp": "1700000000", "token": "t" * 32}
    signed = {**params, "signature": install_signature(params, "secret")}
    assert verify_install(signed, "secret")
    assert not verify_install({**signed, "shop_id": "124"}, "secret")
    assert not verify_install(params, "secret")


def test_key_and_secret_reach_the_shop(ctx, shop) -> None:
    result = ls.check_connection(ctx)
    assert result is not None and result.ok and str(shop.id) in result.message


def test_wrong_secret_is_rejected_with_the_store_message(make_ctx, key) -> None:
    ctx = make_ctx(credentials={"api_key": key.key, "api_secret": "x" * 32})
    with pytest.raises(AuthRejected, match="Invalid API credentials"):
        ls.check_connection(ctx)


def test_the_other_cluster_does_not_know_the_key(make_ctx) -> None:
    with pytest.raises(AuthRejected, match="cluster"):
        ls.check_connection(make_ctx(base_url=US))


def test_language_segment_must_be_active_in_the_shop(make_ctx) -> None:
    result = ls.check_connection(make_ctx(settings={"language": "de"}))
    assert result is not None and not result.ok and "'de' is not active" in result.message


def test_language_comes_from_the_base_url_when_not_set(make_ctx, http, state) -> None:
    ctx = make_ctx(base_url=f"{EU}/en", settings={"language": ""})
    client = LightspeedClient(ctx)
    assert client.url("orders") == f"{EU}/en/orders.json"
    with pytest.raises(Exception, match="two-letter"):
        LightspeedClient(make_ctx(settings={"language": "dutch"}))


def test_requests_without_basic_auth_get_the_error_body(http) -> None:
    answer = http.get(f"{EU}/nl/orders.json")
    assert answer.status_code == 401
    assert answer.json() == {"error": {"code": 401, "method": "GET", "request": "/nl/orders.json",
                                       "message": "Missing API credentials: use HTTP Basic authentication"}}


def test_migration_to_the_app_is_verified_live(ctx, state, shop) -> None:
    app = state.register_app()
    token = state.install_app(app, shop)
    creds = {"app_key": app.key, "app_secret": app.secret, "shop_token": token, "ignored": "x"}
    result = ls.migrate_connection(ctx, "app", creds)
    assert result is not None and result.auth_method == "app"
    assert result.credentials == {"app_key": app.key, "app_secret": app.secret, "shop_token": token}
    assert ("GET", "/nl/shop.json") in state.requests


def test_migration_with_a_wrong_token_keeps_the_old_login(ctx, state, shop) -> None:
    app = state.register_app()
    state.install_app(app, shop)
    with pytest.raises(AuthRejected, match="Invalid API credentials"):
        ls.migrate_connection(ctx, "app", {"app_key": app.key, "app_secret": app.secret, "shop_token": "z" * 32})


def test_migration_to_another_shops_token_is_refused(ctx, state) -> None:
    other = state.add_shop()
    app = state.register_app()
    token = state.install_app(app, other)
    with pytest.raises(AuthRejected, match=f"reaches Lightspeed shop {other.id}"):
        ls.migrate_connection(ctx, "app", {"app_key": app.key, "app_secret": app.secret, "shop_token": token})


def test_migration_back_from_app_to_a_key(make_ctx, state, shop) -> None:
    app = state.register_app()
    token = state.install_app(app, shop)
    app_ctx = make_ctx(auth_method="app", credentials={"app_key": app.key, "app_secret": app.secret,
                                                        "shop_token": token})
    key = state.create_api_key(shop)
    result = ls.migrate_connection(app_ctx, "api_key", {"api_key": key.key, "api_secret": key.secret})
    assert result is not None and result.auth_method == "api_key"
    state.uninstall_app(app, shop)
    with pytest.raises(AuthRejected):
        ls.check_connection(app_ctx)


def test_unimplemented_requests_fail_loudly(ctx) -> None:
    client = LightspeedClient(ctx)
    with pytest.raises(Exception, match="does not implement GET /nl/categories.json") as info:
        client.get("categories")
    assert not isinstance(info.value, NotFound)


def test_unknown_host_is_not_a_lightspeed_cluster(http, key) -> None:
    answer = http.get("https://api.example.com/nl/orders.json", auth=httpx.BasicAuth(key.key, key.secret))
    assert answer.status_code == 404 and "Unknown API host" in answer.json()["error"]["message"]


def test_a_us_shop_is_reached_on_the_us_cluster_only(make_ctx, state) -> None:
    us_shop = state.add_shop(cluster="us1", languages=("us",))
    us_key = state.create_api_key(us_shop)
    creds = {"api_key": us_key.key, "api_secret": us_key.secret}
    result = ls.check_connection(make_ctx(base_url=US, credentials=creds, settings={"language": "us"}))
    assert result is not None and result.ok and str(us_shop.id) in result.message
    with pytest.raises(AuthRejected, match="cluster"):
        ls.check_connection(make_ctx(base_url=EU, credentials=creds, settings={"language": "us"}))
