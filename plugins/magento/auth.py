"""Signing Magento requests: OAuth 1.0a with the integration's four credentials, or the bearer.

Magento 2.4.4+ signs with HMAC-SHA256 (``Framework\\Oauth``): the base string is
``METHOD&enc(scheme://host/path)&enc(sorted k=v)`` over the ``oauth_*`` parameters and the query
string (a JSON body is not signed), and the key is ``enc(consumer secret)&enc(token secret)``.
The parameters travel in the ``Authorization: OAuth ...`` header.

The integration's access token alone, as ``Authorization: Bearer``, works only on stores that
switched ``oauth/consumer/enable_integration_as_bearer`` back on — the login method many
connections made before 2.4.4 still use, and the one ``migrate_connection`` moves away from.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

import httpx

from kade.errors import AuthRejected

OAUTH1 = "oauth1"
BEARER = "bearer"
AUTH_METHODS = (OAUTH1, BEARER)
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    OAUTH1: ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    BEARER: ("access_token",),
}


def rfc3986(value: str) -> str:
    """PHP ``rawurlencode``: all but the unreserved characters percent-encoded (RFC 5849 §3.6)."""
    return quote(value, safe="-_.~")


def normalized_url(url: httpx.URL) -> str:
    """Scheme and host lower-cased, default port dropped, no query (RFC 5849 §3.4.1.2)."""
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if parts.port in (None, default) else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", "", ""))


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((rfc3986(k), rfc3986(v)) for k, v in params if k != "oauth_signature")
    return "&".join((method.upper(), rfc3986(url), rfc3986("&".join(f"{k}={v}" for k, v in pairs))))


def sign(method: str, url: str, params: list[tuple[str, str]], consumer_secret: str, token_secret: str) -> str:
    key = f"{rfc3986(consumer_secret)}&{rfc3986(token_secret)}".encode()
    digest = hmac.new(key, base_string(method, url, params).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class OAuth1(httpx.Auth):
    """Signs every request with the integration's consumer and access-token credentials."""

    def __init__(self, credentials: Mapping[str, str], *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 nonce: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        self.consumer_key = credentials["consumer_key"]
        self.consumer_secret = credentials["consumer_secret"]
        self.token = credentials["access_token"]
        self.token_secret = credentials["access_token_secret"]
        self._now = now
        self._nonce = nonce

    def header(self, method: str, url: httpx.URL) -> str:
        oauth = {
            "oauth_consumer_key": self.consumer_key,
            "oauth_nonce": self._nonce(),
            "oauth_signature_method": "HMAC-SHA256",
            "oauth_timestamp": str(int(self._now().timestamp())),
            "oauth_token": self.token,
            "oauth_version": "1.0",
        }
        query = parse_qsl(url.query.decode(), keep_blank_values=True)
        oauth["oauth_signature"] = sign(method, normalized_url(url), [*oauth.items(), *query],
                                        self.consumer_secret, self.token_secret)
        return "OAuth " + ",".join(f'{k}="{rfc3986(v)}"' for k, v in oauth.items())

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self.header(request.method, request.url)
        yield request


class Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def build_auth(auth_method: str, credentials: Mapping[str, str], *,
               now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> httpx.Auth:
    """The request signer for a login method, or ``AuthRejected`` naming what is missing."""
    fields = CREDENTIAL_FIELDS.get(auth_method)
    if fields is None:
        raise AuthRejected(f"Magento has no login method {auth_method!r}; use one of {', '.join(AUTH_METHODS)}",
                           code="unknown_auth_method")
    missing = [f for f in fields if not str(credentials.get(f) or "").strip()]
    if missing:
        raise AuthRejected(f"Magento {auth_method} credentials lack {', '.join(missing)}", code="missing_credentials")
    if auth_method == BEARER:
        return Bearer(credentials["access_token"])
    return OAuth1(credentials, now=now)
