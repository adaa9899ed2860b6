"""One HTTP toolkit for platform plugins: Retry-After, status → typed error, the timeout rule.

Every platform answers errors in its own body format, but what an answer *means* to the core is
the same everywhere: 401/403 is a rejected login, 429 is "wait", 5xx is transient, a write that
got no answer may have landed. Plugins configure an ``ErrorMap`` (how to read their error body,
which statuses mean something special on their platform) instead of rewriting that mapping, and
``send`` applies the one rule about transport failures. The platform facade maps any raw
``httpx`` error that still escapes a plugin through ``map_transport_error``, so the import,
stock, shipment and cancel paths all treat them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from kade.errors import (
    AuthRejected,
    NotFound,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RejectedByStore,
    TransientError,
)

#: methods that change the store; a lost answer to one of these may mean it was applied
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Retry-After values are clamped to this (a store answering "retry in a year" is a bug, not a plan)
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, *, default: float = 1.0, now: Callable[[], float] = time.time) -> float:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    Garbage, negative or missing values give ``default``; dates in the past give 0.
    """
    if value is None:
        return default
    text = value.strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return default
        if moment.tzinfo is None:
            return default
        seconds = moment.timestamp() - now()
        return min(MAX_RETRY_AFTER, max(0.0, seconds))
    if seconds != seconds or seconds < 0:  # NaN or negative
        return default
    return min(MAX_RETRY_AFTER, seconds)


def retry_after_from(response: httpx.Response, *, default: float = 1.0,
                     headers: tuple[str, ...] = ("Retry-After",)) -> float:
    """The first usable wait among ``headers`` of a response (e.g. add ``X-RateLimit-Reset``)."""
    for name in headers:
        value = response.headers.get(name)
        if value is not None and value.strip():
            return parse_retry_after(value, default=default)
    return default


def is_write(request: httpx.Request | None) -> bool:
    return request is not None and request.method.upper() in WRITE_METHODS


def map_transport_error(exc: httpx.HTTPError, *, write: bool | None = None, what: str = "the store") -> PlatformError:
    """The typed error for an ``httpx`` failure (no HTTP answer).

    The rule: a request that never left (connect failures, pool timeouts — including the core's
    own rate-limit wait — and a bare ``httpx.TimeoutException``, which httpx itself never raises
    but waits in front of a transport do) is transient and safe to resend; a write that left and got no answer
    (read/write timeout, reset, protocol error) is ``OutcomeUnknown``; a read that got no
    answer is transient.
    """
    request: httpx.Request | None
    try:
        request = exc.request
    except RuntimeError:
        request = None
    if write is None:
        write = is_write(request)
    target = f"{request.method} {request.url.path}" if request is not None else what
    never_left = type(exc) is httpx.TimeoutException or isinstance(
        exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol)
    if never_left:
        return TransientError(f"could not reach {what} ({target}): {exc!r}")
    if write and isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
        return OutcomeUnknown(f"no answer to {target}; it may have been applied: {exc!r}")
    return TransientError(f"no answer to {target}: {exc!r}")


def _default_details(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from a JSON ``{"code", "message"}`` body, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or body.get("title") or body.get("detail")
        code = body.get("code")
        if message is not None or code is not None:
            return (str(code) if code is not None else None), str(message if message is not None else code)
    text = " ".join(response.text.split())[:200]
    return None, f"HTTP {response.status_code}" + (f": {text}" if text else "")


@dataclass(frozen=True)
class ErrorMap:
    """How one platform's error answers map onto Kade's typed errors.

    :param platform: the name used in messages ("WooCommerce refused the credentials: ...").
    :param details: reads ``(code, message)`` out of an error response in the platform's format.
    :param auth_statuses: statuses meaning the login was refused.
    :param transient_statuses: 4xx statuses that mean "try again" on this platform (408, 425...).
    :param ambiguous_write_statuses: statuses that, on a write, may hide an applied request
        (a gateway timing out behind which the store carried on).
    :param overrides: ``(status, code) → factory`` for platform-specific meanings (code ``None``
        matches any code), checked first. A factory gets ``(message, status, code)``.
    :param retry_headers: headers read, in order, for the wait of a 429.
    """

    platform: str
    details: Callable[[httpx.Response], tuple[str | None, str]] = _default_details
    auth_statuses: frozenset[int] = frozenset({401, 403})
    transient_statuses: frozenset[int] = frozenset({408, 425})
    ambiguous_write_statuses: frozenset[int] = frozenset({502, 504})
    overrides: Mapping[tuple[int, str | None], Callable[[str, int, str | None], PlatformError]] = field(
        default_factory=dict)
    retry_headers: tuple[str, ...] = ("Retry-After",)

    def error_for(self, response: httpx.Response, *, write: bool | None = None) -> PlatformError | None:
        """The typed error for a response, or None for a success (< 400).

        :param write: whether the request changes the store; by default its method says so (an
            API that reads over POST, like GraphQL, passes it per operation).
        """
        status = response.status_code
        if status < 400:
            return None
        code, message = self.details(response)
        for key in ((status, code), (status, None)):
            factory = self.overrides.get(key)
            if factory is not None:
                return factory(message, status, code)
        if write is None:
            write = is_write(response.request)
        if status in self.auth_statuses:
            return AuthRejected(f"{self.platform} refused the credentials ({status}): {message}",
                                status_code=status, code=code)
        if status == 429:
            return RateLimited(f"{self.platform} is rate limiting: {message}",
                               retry_after=retry_after_from(response, headers=self.retry_headers),
                               status_code=status, code=code)
        if status == 404:
            return NotFound(message, status_code=status, code=code)
        if status >= 500:
            if write and status in self.ambiguous_write_statuses:
                return OutcomeUnknown(f"{self.platform} answered {status} to a write: {message}",
                                      status_code=status, code=code)
            return TransientError(f"{self.platform} failed ({status}): {message}", status_code=status, code=code)
        if status in self.transient_statuses:
            return TransientError(f"{self.platform} answered {status}: {message}", status_code=status, code=code)
        return RejectedByStore(message, status_code=status, code=code)

    def raise_for_status(self, response: httpx.Response, *, write: bool | None = None) -> None:
        error = self.error_for(response, write=write)
        if error is not None:
            raise error


def send(client: httpx.Client, method: str, url: str, *, errors: ErrorMap, write: bool | None = None,
         **kwargs: Any) -> httpx.Response:
    """Send one request; return a < 400 answer, raise the typed error for anything else.

    :param write: whether the request changes the store (default: its method says so).
    """
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, write=write, what=errors.platform) from exc
    errors.raise_for_status(response, write=write)
    return response
