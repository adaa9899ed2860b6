"""Tokens, rotating refresh tokens, connection tests and the migration to bol's login (rule R10)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from bol_testkit import PARTNER, REDIRECT_URI, RETAILER, Bol

from kade.errors import AuthRejected, UserError
from kade.plugins.bol import plugin
from kade.plugins.bol.auth import jwt_expiry
from kade.plugins.bol.protocol import JSON_TYPE
from kade.tokens import MemoryTokenStore
from kade.types import OrderQuery


def test_token_is_reused_across_calls_and_connections_contexts(bol: Bol) -> None:
    bol.sim.generate(5)
    for _ in range(3):
        plugin.import_orders(bol.ctx(), OrderQuery())
    assert bol.sim.token_request_count("client_credentials") == 1


def test_expired_token_is_refreshed_once_on_401(bol: Bol) -> None:
    bol.sim.generate(3)
    ctx = bol.ctx()
    plugin.import_orders(ctx, OrderQuery())
    bol.clock.advance(301)  # the JWT (299 s) is dead; the shared store still holds it
    page = plugin.import_orders(ctx, OrderQuery())
    assert len(page.orders) == 3
    assert bol.sim.token_request_count("client_credentials") == 2


def test_bad_client_secret_is_auth_rejected(bol: Bol) -> None:
    ctx = bol.ctx(credentials={"client_id": RETAILER[0], "client_secret": "wrong"})
    with pytest.raises(AuthRejected, match="invalid_client"):
        plugin.import_orders(ctx, OrderQuery())


def test_inactive_account_is_auth_rejected(bol: Bol) -> None:
    bol.sim.deactivate_client(RETAILER[0])
    with pytest.raises(AuthRejected, match="Account is not active"):
        plugin.import_orders(bol.ctx(), OrderQuery())


def test_two_workers_refresh_under_the_lock_with_one_token_request(bol: Bol) -> None:
    bol.sim.inject("slow", "/token", count=2, seconds=0.05)  # widen the race window
    ctx_a, ctx_b = bol.ctx(), bol.ctx()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(ctx: object) -> None:
        try:
            barrier.wait()
            plugin.check_connection(ctx)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in (ctx_a, ctx_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert bol.sim.token_request_count() == 1


def test_rotating_refresh_token_is_persisted_and_the_old_one_dies(bol: Bol) -> None:
    credentials = bol.code_credentials()
    first = credentials["refresh_token"]
    ctx = bol.ctx("authorization_code", credentials)
    plugin.check_connection(ctx)

    assert len(bol.saved) == 1
    rotated = bol.saved[0]["refresh_token"]
    assert rotated != first
    assert bol.saved[0]["refresh_token_expires_at"].startswith("2026-06-02")
    assert ctx.credentials["refresh_token"] == rotated
    status, body = bol.sim.grant("refresh_token", *PARTNER, {"refresh_token": first})
    assert (status, body["error"]) == (400, "invalid_grant")


def test_a_worker_with_stale_credentials_follows_the_rotation(bol: Bol) -> None:
    credentials = bol.code_credentials()
    worker_a = bol.ctx("authorization_code", credentials)
    plugin.check_connection(worker_a)
    bol.tokens.delete(worker_a_key := next(iter(_access_keys(bol))))
    assert worker_a_key
    # worker B was started before A rotated the token: its credentials still hold the first one
    worker_b = bol.ctx("authorization_code", credentials)
    result = plugin.check_connection(worker_b)
    assert result.ok, result.message
    assert bol.sim.token_request_count("refresh_token") == 2
    assert bol.saved[-1]["refresh_token"] == worker_b.credentials["refresh_token"]


def _access_keys(bol: Bol) -> list[str]:
    store = bol.tokens
    assert isinstance(store, MemoryTokenStore)
    return [k for k in store._values if k.startswith("bol:1:authorization_code")]


def test_fresh_consent_wins_over_an_old_rotation_chain(bol: Bol) -> None:
    ctx = bol.ctx("authorization_code", bol.code_credentials())
    plugin.check_connection(ctx)
    for key in _access_keys(bol):
        bol.tokens.delete(key)
    renewed = bol.ctx("authorization_code", bol.code_credentials())  # the seller consented again
    assert plugin.check_connection(renewed).ok


def test_revoked_consent_fails_loudly(bol: Bol) -> None:
    credentials = bol.code_credentials()
    bol.sim.revoke_consent(credentials["refresh_token"])
    with pytest.raises(AuthRejected, match="invalid_grant"):
        plugin.check_connection(bol.ctx("authorization_code", credentials))


def test_refresh_token_expires_after_365_days(bol: Bol) -> None:
    credentials = bol.code_credentials()
    bol.clock.advance(365 * 86400 + 1)
    status, body = bol.sim.grant("refresh_token", *PARTNER, {"refresh_token": credentials["refresh_token"]})
    assert (status, body["error"]) == (400, "invalid_grant")
    with pytest.raises(AuthRejected):
        plugin.import_orders(bol.ctx("authorization_code", credentials), OrderQuery())


def test_connection_reports_when_the_consent_expires(bol: Bol) -> None:
    ctx = bol.ctx("authorization_code", bol.code_credentials())
    result = plugin.check_connection(ctx)
    assert result.ok
    assert result.credentials_expire_at is not None
    assert result.credentials_expire_at - ctx.now() == pytest.approx(timedelta(days=365), abs=timedelta(seconds=5))
    assert "renewed before 2026-06-02" in result.message
    assert plugin.check_connection(bol.ctx()).credentials_expire_at is None


def test_credentials_never_go_in_the_query_string(bol: Bol) -> None:
    response = bol.http.post(
        "https://login.bol.com/token",
        params={"grant_type": "client_credentials", "client_id": RETAILER[0], "client_secret": RETAILER[1]},
    )
    assert response.status_code == 400
    # grant_type alone in the query is fine, with Basic auth
    response = bol.http.post("https://login.bol.com/token?grant_type=client_credentials", auth=RETAILER)
    assert response.status_code == 200
    assert response.json()["expires_in"] == 299
    assert response.json()["scope"] == "RETAILER"


def test_authorize_redirects_with_code_and_state(bol: Bol) -> None:
    response = bol.http.get(
        "https://login.bol.com/authorize",
        params={
            "response_type": "code",
            "client_id": PARTNER[0],
            "scope": "offline_access",
            "redirect_uri": REDIRECT_URI,
            "state": "csrf123",
        },
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?code=") and location.endswith("&state=csrf123")


# -- migration -------------------------------------------------------------------------------


def test_migrate_with_code_verifies_live_and_returns_newest_credentials(bol: Bol) -> None:
    ctx = bol.ctx()  # an old client-credentials connection
    code = bol.sim.issue_auth_code(PARTNER[0], REDIRECT_URI)
    result = plugin.migrate_connection(
        ctx,
        "authorization_code",
        {"client_id": PARTNER[0], "client_secret": PARTNER[1], "code": code, "redirect_uri": REDIRECT_URI},
    )
    assert result.auth_method == "authorization_code"
    assert set(result.credentials) == {"client_id", "client_secret", "refresh_token", "refresh_token_expires_at"}
    assert bol.sim.count_requests("GET", "/retailer/orders") == 1  # the live check
    assert bol.saved == [] and ctx.credentials["client_id"] == RETAILER[0]  # the core switches, not us

    migrated = bol.ctx("authorization_code", result.credentials)
    assert plugin.check_connection(migrated).ok
    assert plugin.check_connection(ctx).ok  # the old keys keep working until the switch


def test_migrate_with_refresh_token_returns_the_rotated_one(bol: Bol) -> None:
    given = bol.code_credentials()
    result = plugin.migrate_connection(bol.ctx(), "authorization_code", given)
    assert result.credentials["refresh_token"] != given["refresh_token"]
    assert plugin.check_connection(bol.ctx("authorization_code", result.credentials, connection_id=2)).ok


def test_migrate_with_bad_code_is_rejected_and_changes_nothing(bol: Bol) -> None:
    ctx = bol.ctx()
    before = dict(ctx.credentials)
    store = bol.tokens
    assert isinstance(store, MemoryTokenStore)
    with pytest.raises(AuthRejected, match="invalid_grant"):
        plugin.migrate_connection(
            ctx,
            "authorization_code",
            {"client_id": PARTNER[0], "client_secret": PARTNER[1], "code": "nope", "redirect_uri": REDIRECT_URI},
        )
    assert ctx.credentials == before and bol.saved == [] and store._values == {}
    assert bol.sim.count_requests("GET", "/retailer/orders") == 0


def test_migrate_with_a_used_code_is_rejected(bol: Bol) -> None:
    code = bol.sim.issue_auth_code(PARTNER[0], REDIRECT_URI)
    creds = {"client_id": PARTNER[0], "client_secret": PARTNER[1], "code": code, "redirect_uri": REDIRECT_URI}
    plugin.migrate_connection(bol.ctx(), "authorization_code", creds)
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(bol.ctx(), "authorization_code", creds)


def test_migrate_needs_a_code_or_refresh_token(bol: Bol) -> None:
    with pytest.raises(UserError):
        plugin.migrate_connection(bol.ctx(), "authorization_code", {"client_id": "a", "client_secret": "b"})
    with pytest.raises(UserError):
        plugin.migrate_connection(bol.ctx(), "api_key", {"client_id": "a", "client_secret": "b"})


def test_migrate_back_to_api_keys(bol: Bol) -> None:
    ctx = bol.ctx("authorization_code", bol.code_credentials())
    result = plugin.migrate_connection(
        ctx, "client_credentials", {"client_id": RETAILER[0], "client_secret": RETAILER[1]}
    )
    assert result.credentials == {"client_id": RETAILER[0], "client_secret": RETAILER[1]}


def test_sim_tokens_are_jwts_with_expiry(bol: Bol) -> None:
    status, body = bol.sim.grant("client_credentials", *RETAILER, {})
    assert status == 200
    expiry = jwt_expiry(body["access_token"])
    assert expiry is not None and expiry.timestamp() == pytest.approx(bol.clock.now() + 299, abs=2)
    response = bol.http.get(
        "/retailer/orders", headers={"Accept": JSON_TYPE, "Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 200
    bol.clock.advance(301)
    response = bol.http.get(
        "/retailer/orders", headers={"Accept": JSON_TYPE, "Authorization": f"Bearer {body['access_token']}"}
    )
    assert response.status_code == 401
    assert response.json()["title"] == "Expired JWT"
    assert "JWT expired at" in response.json()["detail"]
