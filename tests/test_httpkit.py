"""The shared HTTP toolkit: Retry-After in both forms, status → typed error, the timeout rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.httpkit import ErrorMap, map_transport_error, parse_retry_after, send


def test_retry_after_seconds_dates_and_garbage() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after(None, default=2.0) == 2.0
    assert parse_retry_after("soon", default=3.0) == 3.0
    assert parse_retry_after("-4", default=3.0) == 3.0
    assert parse_retry_after("nan", default=3.0) == 3.0
    assert parse_retry_after("99999999") == 3600.0
    future = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(future, usegmt=True)) <= 31
    past = datetime.now(UTC) - timedelta(days=1)
    assert parse_retry_after(format_datetime(past, usegmt=True)) == 0.0


def _answer(status: int, method: str = "GET", **kwargs: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request(method, "https://shop.test/x"), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "method", "expected"),
    [
        (401, "GET", AuthRejected),
        (403, "POST", AuthRejected),
        (404, "GET", NotFound),
        (408, "GET", TransientError),
        (422, "POST", RejectedByStore),
        (500, "POST", TransientError),
        (503, "GET", TransientError),
        (504, "POST", OutcomeUnknown),
        (504, "GET", TransientError),
    ],
)
def test_status_mapping(status: int, method: str, expected: type[Exception]) -> None:
    error = ErrorMap("Acme").error_for(_answer(status, method, json={"code": "x", "message": "nope"}))
    assert type(error) is expected
    assert error is not None and error.status_code == status


def test_success_is_no_error_and_429_reads_the_wait() -> None:
    errors = ErrorMap("Acme", retry_headers=("Retry-After", "X-RateLimit-Reset"))
    assert errors.error_for(_answer(204)) is None
    limited = errors.error_for(_answer(429, headers={"X-RateLimit-Reset": "12"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 12.0


def test_overrides_and_body_details() -> None:
    errors = ErrorMap(
        "Acme",
        details=lambda r: (r.json()["error"]["code"], r.json()["error"]["message"]),
        overrides={(400, "order_cancelled"): lambda m, s, c: RejectedByStore(m, status_code=s, code="order_cancelled")},
    )
    error = errors.error_for(_answer(400, "POST", json={"error": {"code": "order_cancelled", "message": "gone"}}))
    assert isinstance(error, RejectedByStore) and error.code == "order_cancelled" and error.message == "gone"


def test_html_error_bodies_are_cut_short() -> None:
    error = ErrorMap("Acme").error_for(_answer(418, text="<html>" + "x" * 5000 + "</html>"))
    assert isinstance(error, RejectedByStore) and len(error.message) < 260


def test_the_timeout_rule() -> None:
    get = httpx.Request("GET", "https://shop.test/orders")
    post = httpx.Request("POST", "https://shop.test/ship")
    assert type(map_transport_error(httpx.ConnectError("refused", request=post))) is TransientError
    assert type(map_transport_error(httpx.PoolTimeout("wait", request=post))) is TransientError
    assert type(map_transport_error(httpx.ReadTimeout("slow", request=post))) is OutcomeUnknown
    assert type(map_transport_error(httpx.RemoteProtocolError("reset", request=post))) is OutcomeUnknown
    assert type(map_transport_error(httpx.ReadTimeout("slow", request=get))) is TransientError


def test_send_maps_both_kinds_of_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/boom":
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(500 if request.url.path == "/bad" else 200, json={})

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://shop.test")
    errors = ErrorMap("Acme")
    assert send(client, "GET", "/ok", errors=errors).status_code == 200
    with pytest.raises(TransientError):
        send(client, "GET", "/bad", errors=errors)
    with pytest.raises(OutcomeUnknown):
        send(client, "POST", "/boom", errors=errors)


def test_a_bare_timeout_is_a_wait_that_never_sent() -> None:
    """httpx raises only its subclasses; a bare TimeoutException comes from a wait before sending."""
    post = httpx.Request("POST", "https://shop.test/ship")
    assert type(map_transport_error(httpx.TimeoutException("rate limit wait", request=post))) is TransientError
    assert type(map_transport_error(httpx.WriteTimeout("half sent", request=post))) is OutcomeUnknown


def test_write_can_be_said_per_call_for_apis_that_read_over_post() -> None:
    """GraphQL: every call is a POST; only a mutation's lost answer may hide a change."""
    post = httpx.Request("POST", "https://shop.test/graphql.json")
    errors = ErrorMap("Acme", ambiguous_write_statuses=frozenset(range(500, 600)))
    answer = httpx.Response(500, json={}, request=post)
    assert type(errors.error_for(answer, write=False)) is TransientError
    assert type(errors.error_for(answer, write=True)) is OutcomeUnknown
    assert type(errors.error_for(answer)) is OutcomeUnknown  # by the method
    assert type(map_transport_error(httpx.ReadTimeout("slow", request=post), write=False)) is TransientError

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    client = httpx.Client(transport=httpx.MockTransport(handler), base_url="https://shop.test")
    with pytest.raises(TransientError) as caught:
        send(client, "POST", "/graphql.json", errors=errors, write=False)
    assert not isinstance(caught.value, OutcomeUnknown)

