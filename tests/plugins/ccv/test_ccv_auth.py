"""Signatures both ways: the shop checks Kade's, Kade checks the shop's; migration to new keys."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from kade.errors import AuthRejected, OutcomeUnknown, TransientError
from kade.plugins.ccv import plugin
from kade.plugins.ccv.auth import signature
from kade.plugins.ccv.client import CcvClient
from kade.plugins.ccv.simulator.signing import digest
from kade.plugins.ccv.simulator.state import CcvState
from kade.types import ConnectionContext

from .conftest import BASE, START


def test_the_signature_is_hmac_sha512_over_the_five_parts() -> None:
    expected = hmac.new(b"s3cret", b"pub|GET|/api/rest/v1/orders/?start=0&size=25||2026-03-02T12:00:07Z",
                        hashlib.sha512).hexdigest()
    assert signature("pub", "get", "/api/rest/v1/orders/?start=0&size=25", b"", "2026-03-02T12:00:07Z",
                     "s3cret") == expected
    body = b'{"status":5}'
    assert signature("pub", "PATCH", "/api/rest/v1/orders/1/", body, "d", "s") == \
        digest("pub", "PATCH", "/api/rest/v1/orders/1/", body, "d", "s")


def test_signed_requests_pass_and_the_connection_check_proves_them(ctx: ConnectionContext) -> None:
    result = plugin.check_connection(ctx)
    assert result is not None and result.ok and "4 resources" in result.message


def test_a_wrong_secret_is_refused_by_the_shop(make_ctx: Callable[..., ConnectionContext], key) -> None:
    ctx = make_ctx(credentials={"public_key": key.public, "secret_key": "0" * 64})
    with pytest.raises(AuthRejected, match="401.40"):
        CcvClient(ctx).get("orders")


@pytest.mark.parametrize(("skew", "ok"), [(-299.0, True), (299.0, True), (301.0, False), (-301.0, False)])
def test_x_date_may_be_at_most_five_minutes_off(make_ctx, skew: float, ok: bool) -> None:
    client = CcvClient(make_ctx(skew=skew))
    if ok:
        assert client.collection("orders")[0] == []
    else:  # the shop's signed refusal carries its time: Kade's clock is off, not the keys
        with pytest.raises(TransientError, match=r"clock is [+-]30\d s off") as caught:
            client.get("orders")
        assert caught.value.code == "clock_skew"


@pytest.mark.parametrize("date", ["2026-03-02T12:00:07Z", "2026-03-02T12:00:07+00:00", "2026-03-02T12:00:07+0000",
                                  "2026-03-02T13:00:07+01:00"])
def test_the_shop_accepts_every_x_date_form_the_sdks_send(http: httpx.Client, key, date: str) -> None:
    uri = "/api/rest/v1/orders/"
    headers = {"x-public": key.public, "x-date": date, "x-hash": digest(key.public, "GET", uri, b"", date, key.secret)}
    assert http.get(f"{BASE}{uri}", headers=headers).status_code == 200


def test_a_revoked_key_is_a_rejected_login(ctx: ConnectionContext, state: CcvState, key) -> None:
    state.revoke(key.public)
    with pytest.raises(AuthRejected, match="revoked"):
        plugin.check_connection(ctx)


@pytest.mark.parametrize("mode", ["missing", "wrong"])
def test_an_unsigned_or_wrongly_signed_answer_is_never_data(ctx: ConnectionContext, state: CcvState,
                                                            mode: str) -> None:
    order = state.create_order([(state.add_product("A1", stock=3), 1)])
    state.tamper.append(mode)
    with pytest.raises(TransientError, match="rejected") as caught:
        CcvClient(ctx).get(f"orders/{order.id}")
    assert caught.value.code == "invalid_signature"
    assert CcvClient(ctx).get(f"orders/{order.id}")["id"] == order.id  # the next, signed answer is read


def test_an_unsigned_answer_to_a_write_may_hide_an_applied_write(ctx: ConnectionContext, state: CcvState) -> None:
    order = state.create_order([(state.add_product("A1", stock=3), 1)])
    state.tamper.append("wrong")
    with pytest.raises(OutcomeUnknown):
        CcvClient(ctx).patch(f"orders/{order.id}", {"status": 2})
    assert order.status == 2


def test_an_answer_signed_over_another_body_is_refused(ctx: ConnectionContext, state: CcvState,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy rewriting a body keeps the shop's x-hash, which then no longer matches."""
    state.create_order([(state.add_product("A1", stock=3), 1)])
    real = ctx.http.send

    def rewrite(request: httpx.Request, **kwargs: object) -> httpx.Response:
        answer = real(request)
        return httpx.Response(answer.status_code, headers=answer.headers,
                              content=answer.content.replace(b'"paid": true', b'"paid": false'), request=request)

    monkeypatch.setattr(ctx.http, "send", rewrite)
    with pytest.raises(TransientError, match="does not match"):
        CcvClient(ctx).collection("orders")


def test_migration_to_the_apps_keys_is_verified_live(ctx: ConnectionContext, state: CcvState) -> None:
    new = state.create_key(kind="app")
    result = plugin.migrate_connection(ctx, "app", {"public_key": new.public, "secret_key": new.secret})
    assert result is not None and result.auth_method == "app"
    assert result.credentials == {"public_key": new.public, "secret_key": new.secret}
    assert any(uri == "/api/rest/v1/" for _, uri in state.requests)


def test_migration_to_keys_that_do_not_work_changes_nothing(ctx: ConnectionContext, state: CcvState) -> None:
    new = state.create_key(kind="app")
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(ctx, "app", {"public_key": new.public, "secret_key": "f" * 64})
    with pytest.raises(AuthRejected, match="lack secret_key"):
        plugin.migrate_connection(ctx, "app", {"public_key": new.public})


def test_migration_to_keys_without_the_needed_resources_is_refused(ctx: ConnectionContext, state: CcvState) -> None:
    narrow = state.create_key(kind="app", resources=("orders",))
    with pytest.raises(AuthRejected, match="orderrows, products, attributecombinations"):
        plugin.migrate_connection(ctx, "app", {"public_key": narrow.public, "secret_key": narrow.secret})


def test_an_unimplemented_request_is_a_loud_501(ctx: ConnectionContext, state: CcvState) -> None:
    with pytest.raises(TransientError, match=r"does not implement GET /api/rest/v1/webhooks/ \(501.20\)"):
        CcvClient(ctx).get("webhooks")


def test_a_wrong_method_is_405_naming_the_allowed_ones(ctx: ConnectionContext) -> None:
    with pytest.raises(Exception, match=r"allowed: GET\) \(405.10\)"):
        CcvClient(ctx).patch("orders", {"status": 5})


def test_start_is_the_shops_clock(clock) -> None:
    assert datetime.fromtimestamp(clock.now(), UTC).replace(microsecond=0) == START
