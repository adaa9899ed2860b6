"""HTTP access to one WooCommerce store: authentication and error translation.

WooCommerce accepts its consumer key/secret in two ways (``WC_REST_Authentication``): HTTP Basic
(or ``consumer_key``/``consumer_secret`` query parameters) only when the request is HTTPS, and
one-legged OAuth 1.0a otherwise. Every failure is turned into the ``kade.errors`` family here,
once, through ``kade.httpkit`` (``ERRORS`` reads WordPress's error body), so the hook
implementations only deal with typed outcomes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx

from kade.errors import AuthRejected
from kade.httpkit import ErrorMap, send
from kade.types import ConnectionContext

REST_PREFIX = "/wp-json"
API = "wc/v3"
TRACKING_API = "wc-shipment-tracking/v3"


def rfc3986(value: str) -> str:
    """Percent-encode everything but RFC 3986 unreserved characters (OAuth 1.0a, §3.6)."""
    return quote(value, safe="-_.~")


def normalized_url(url: httpx.URL) -> str:
    """Scheme and host in lower case, default ports dropped, no query (RFC 5849 §3.4.1.2)."""
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def signature_base_string(method: str, url: str, params: Mapping[str, str]) -> str:
    """``METHOD&enc(url)&enc(k=v&...)`` over the sorted, encoded parameters (no body for JSON)."""
    pairs = sorted((rfc3986(k), rfc3986(v)) for k, v in params.items() if k != "oauth_signature")
    joined = "&".join(f"{k}={v}" for k, v in pairs)
    return f"{method.upper()}&{rfc3986(url)}&{rfc3986(joined)}"


def sign(method: str, url: str, params: Mapping[str, str], consumer_secret: str, algorithm: str) -> str:
    """Base64 HMAC over the base string; the key is the consumer secret plus ``&`` (no token)."""
    digest = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}[algorithm]
    # WooCommerce uses the raw secret (RFC 5849 would encode it; identical for cs_<hex> secrets)
    key = f"{consumer_secret}&".encode()
    raw = hmac.new(key, signature_base_string(method, url, params).encode(), digest).digest()
    return base64.b64encode(raw).decode()


class OAuth1(httpx.Auth):
    """One-legged OAuth 1.0a as WooCommerce checks it on plain-HTTP stores.

    The ``oauth_*`` parameters go in the query string (hosts that strip ``Authorization`` keep
    them); ``oauth_version`` is left out, as WooCommerce's documentation asks. Query parameters
    and form bodies are signed; JSON bodies are not part of the signature.
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        algorithm: str = "HMAC-SHA256",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if algorithm not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise ValueError(f"unsupported OAuth signature method {algorithm!r}")
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.algorithm = algorithm
        self._now = now
        self._nonce = nonce

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(request.read().decode(), keep_blank_values=True))
        oauth = {
            "oauth_consumer_key": self.consumer_key,
            "oauth_nonce": self._nonce(),
            "oauth_signature_method": self.algorithm,
            "oauth_timestamp": str(int(self._now().timestamp())),
        }
        params.update(oauth)
        oauth["oauth_signature"] = sign(
            request.method, normalized_url(request.url), params, self.consumer_secret, self.algorithm
        )
        request.url = request.url.copy_merge_params(oauth)
        yield request


class QueryStringAuth(httpx.Auth):
    """Keys as ``consumer_key``/``consumer_secret`` query parameters, for HTTPS hosts that drop the
    ``Authorization`` header (WooCommerce's documented fallback)."""

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_merge_params(
            {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret}
        )
        yield request


def build_auth(
    auth_method: str,
    base_url: str,
    credentials: Mapping[str, str],
    *,
    settings: Mapping[str, Any] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> httpx.Auth:
    """Pick the transport-level auth for a connection's keys.

    ``basic`` keys are sent only over HTTPS (WooCommerce ignores Basic on plain HTTP, and sending
    the secret in the clear would leak it); ``oauth1`` always signs; ``wc_auth`` keys (issued by
    ``/wc-auth/v1/authorize``) use Basic on HTTPS and OAuth 1.0a on HTTP.
    """
    settings = settings or {}
    try:
        key, secret = credentials["consumer_key"], credentials["consumer_secret"]
    except KeyError as missing:
        raise AuthRejected(f"WooCommerce credentials lack {missing.args[0]}") from None
    if not key or not secret:
        raise AuthRejected("WooCommerce consumer key and secret must not be empty")
    https = urlsplit(base_url).scheme.lower() == "https"
    algorithm = str(settings.get("oauth_signature_method") or "HMAC-SHA256")
    if auth_method == "oauth1" or (auth_method == "wc_auth" and not https):
        return OAuth1(key, secret, algorithm=algorithm, now=now)
    if auth_method in ("basic", "wc_auth"):
        if not https:
            raise AuthRejected(
                "WooCommerce accepts Basic authentication only over HTTPS; use an https:// store URL "
                "or the oauth1 login method"
            )
        if str(settings.get("query_string_auth", "")).lower() in ("1", "true", "yes", "on"):
            return QueryStringAuth(key, secret)
        return httpx.BasicAuth(key, secret)
    raise AuthRejected(f"unknown WooCommerce login method {auth_method!r}")


def _error_details(response: httpx.Response) -> tuple[str | None, str]:
    """The WP REST error body ``{code, message, data}``; hosts sometimes answer with HTML."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "code" in body:
        return str(body.get("code")), str(body.get("message") or body.get("code"))
    text = response.text.strip().replace("\n", " ")
    return None, f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


#: how WooCommerce's answers map onto Kade's errors; 502/504 on a write may hide a finished write
ERRORS = ErrorMap(platform="WooCommerce", details=_error_details)


def raise_for_status(response: httpx.Response) -> None:
    """Translate a non-2xx answer into the ``PlatformError`` family."""
    ERRORS.raise_for_status(response)


class WooClient:
    """Requests against one store, through the connection's ``ctx.http``."""

    def __init__(
        self,
        ctx: ConnectionContext,
        *,
        auth_method: str | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.base_url = ctx.base_url.rstrip("/")
        self.auth = build_auth(
            auth_method or ctx.auth_method,
            ctx.base_url,
            credentials if credentials is not None else ctx.credentials,
            settings=ctx.settings,
            now=ctx.now,
        )

    def url(self, path: str, *, api: str = API) -> str:
        return f"{self.base_url}{REST_PREFIX}/{api}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        api: str = API,
    ) -> httpx.Response:
        """Send one request; raise the typed error for anything but a 2xx/3xx answer.

        A write that got no answer (timeout, dropped connection) raises ``OutcomeUnknown``: the
        store may have applied it. A read, or a write that never left, is a ``TransientError``.
        """
        method = method.upper()
        query = {k: str(v) for k, v in (params or {}).items()}
        url = self.url(path, api=api)
        if query:
            url = f"{url}?{urlencode(query)}"
        return send(self.ctx.http, method, url, errors=ERRORS, json=json, auth=self.auth)

    def get(self, path: str, params: Mapping[str, str | int] | None = None, *, api: str = API) -> Any:
        return self.request("GET", path, params=params, api=api).json()

    def send(self, method: str, path: str, body: Any, *, api: str = API) -> Any:
        return self.request(method, path, json=body, api=api).json()


def authorize_url(
    store_url: str, *, app_name: str, user_id: str, return_url: str, callback_url: str, scope: str = "read_write"
) -> str:
    """The ``/wc-auth/v1/authorize`` URL to send a shop owner to, so the store issues keys.

    WooCommerce POSTs ``{key_id, user_id, consumer_key, consumer_secret, key_permissions}`` as
    JSON to ``callback_url`` (which must be HTTPS), then redirects to ``return_url``.
    """
    if urlsplit(callback_url).scheme != "https":
        raise ValueError("WooCommerce requires the callback_url to be https://")
    query = urlencode(
        {
            "app_name": app_name,
            "scope": scope,
            "user_id": user_id,
            "return_url": return_url,
            "callback_url": callback_url,
        }
    )
    return f"{store_url.rstrip('/')}/wc-auth/v1/authorize?{query}"


#: WP core caps ``per_page`` at 100
PAGE_SIZE = 100


def total_pages(headers: Mapping[str, str], page: int, count: int) -> int:
    """``X-WP-TotalPages``; without it (some caching proxies drop it) a full page means more."""
    value = headers.get("x-wp-totalpages")
    if value is not None and value.strip().isdigit():
        return int(value)
    return page + 1 if count >= PAGE_SIZE else page
