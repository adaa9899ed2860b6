"""Moving a connection from pasted keys to keys issued through /wc-auth/v1/authorize."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kade.errors import AuthRejected
from kade.plugins.woocommerce import plugin
from kade.plugins.woocommerce.client import authorize_url
from kade.plugins.woocommerce.simulator import WooState
from kade.types import ConnectionContext, OrderQuery


def connect(http: httpx.Client, *, scope: str = "read_write", approve: bool = True) -> httpx.Response:
    """What the shop owner does in the browser: open the authorize URL and click a button."""
    url = authorize_url(
        "https://shop.example",
        app_name="Kade",
        user_id="tenant-1:conn-1",
        return_url="https://kade.example/woocommerce/return",
        callback_url="https://kade.example/woocommerce/callback",
        scope=scope,
    )
    page = http.get(url)
    assert page.status_code == 200
    links = dict((label, href) for href, label in re.findall(r'href="([^"]+)">(\w+)<', page.text))
    return http.get(links["Approve" if approve else "Deny"].replace("&amp;", "&"))


def test_migration_to_wc_auth_keys(sim: WooState, http: httpx.Client, ctx: ConnectionContext) -> None:
    redirect = connect(http)
    assert redirect.status_code == 302
    assert parse_qs(urlsplit(redirect.headers["location"]).query) == {"success": ["1"], "user_id": ["tenant-1:conn-1"]}
    callback = sim.auth_callbacks[-1]
    assert callback.url == "https://kade.example/woocommerce/callback"
    body = callback.json()
    assert set(body) == {"key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions"}
    assert body["consumer_key"].startswith("ck_") and body["key_permissions"] == "read_write"

    result = plugin.migrate_connection(ctx, "wc_auth", body)

    assert result is not None and result.auth_method == "wc_auth"
    assert result.credentials["consumer_key"] == body["consumer_key"]
    migrated = ConnectionContext(**{**ctx.__dict__, "auth_method": "wc_auth", "credentials": result.credentials})
    assert plugin.import_orders(migrated, OrderQuery()) is not None
    old = ctx  # the old keys keep working until the core switches
    assert plugin.check_connection(old) is not None


def test_migration_with_a_bad_secret_fails(sim: WooState, http: httpx.Client, ctx: ConnectionContext) -> None:
    connect(http)
    body = sim.auth_callbacks[-1].json()
    with pytest.raises(AuthRejected) as err:
        plugin.migrate_connection(ctx, "wc_auth", {**body, "consumer_secret": "cs_tampered"})
    assert err.value.code == "woocommerce_rest_authentication_error"


def test_migration_to_a_revoked_key_fails(sim: WooState, http: httpx.Client, ctx: ConnectionContext) -> None:
    connect(http)
    body = sim.auth_callbacks[-1].json()
    sim.revoke_api_key(body["consumer_key"])
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(ctx, "wc_auth", body)


def test_migration_to_a_read_only_key_fails(sim: WooState, http: httpx.Client, ctx: ConnectionContext) -> None:
    connect(http, scope="read")
    body = sim.auth_callbacks[-1].json()
    with pytest.raises(AuthRejected, match="needs read_write"):
        plugin.migrate_connection(ctx, "wc_auth", body)


def test_denied_and_failed_callbacks_issue_no_usable_key(sim: WooState, http: httpx.Client) -> None:
    denied = connect(http, approve=False)
    assert parse_qs(urlsplit(denied.headers["location"]).query)["success"] == ["0"]
    assert sim.auth_callbacks == []
    keys_before = set(sim.keys)
    sim.auth_callback_sender = lambda url, body: 500
    failed = connect(http)
    assert failed.status_code == 400 and "unable to send the consumer data" in failed.text
    assert set(sim.keys) == keys_before, "the store deletes the key when the callback fails"


def test_callback_url_must_be_https(http: httpx.Client) -> None:
    with pytest.raises(ValueError):
        authorize_url(
            "https://shop.example",
            app_name="Kade",
            user_id="1",
            return_url="https://k.example",
            callback_url="http://k.example/cb",
        )
    response = http.get(
        "/wc-auth/v1/authorize",
        params={
            "app_name": "Kade",
            "scope": "read_write",
            "user_id": "1",
            "return_url": "https://k.example",
            "callback_url": "http://k.example/cb",
        },
    )
    assert response.status_code == 400 and "needs to be over SSL" in response.text


def test_unknown_target_method(ctx: ConnectionContext) -> None:
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(ctx, "jwt", {"consumer_key": "ck_x", "consumer_secret": "cs_x"})
