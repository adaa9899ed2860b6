"""Shopware Admin API access tokens: one per connection, shared by every worker.

Tokens live 600 s whatever the grant. They are kept in the core's ``TokenStore`` and reused
until shortly before they expire, fetched again under ``tokens.lock`` (double-checked, so two
workers never both log in), and renewed once when Shopware answers 401 (a token revoked or
expired early). Two grants are supported:

* ``client_credentials``: an integration's access key id (``SWIA…``) and secret access key, the
  way Shopware recommends for machine access;
* ``password``: an administration user's name and password (``client_id=administration``),
  the older way; its refresh token is not used — the password grant is repeated instead, so
  nothing rotates and nothing needs persisting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Mapping
from typing import Any

import httpx
import structlog

from kade.errors import AuthRejected, PlatformError, RateLimited, TransientError
from kade.httpkit import ErrorMap, map_transport_error
from kade.types import ConnectionContext

log = structlog.get_logger("kade.plugins.shopware")

CLIENT_CREDENTIALS = "client_credentials"
PASSWORD = "password"
AUTH_METHODS = (CLIENT_CREDENTIALS, PASSWORD)
CREDENTIAL_FIELDS = {CLIENT_CREDENTIALS: ("client_id", "client_secret"), PASSWORD: ("username", "password")}
#: a token is renewed this many seconds before Shopware would expire it
RENEW_MARGIN = 60.0


def api_url(base_url: str, path: str) -> str:
    """``<shop>/api/<path>``; a base URL already ending in ``/api`` is accepted as well."""
    base = base_url.rstrip("/")
    if base.endswith("/api"):
        base = base[:-4]
    return f"{base}/api/{path.lstrip('/')}"


def _token_details(response: httpx.Response) -> tuple[str | None, str]:
    from kade.plugins.shopware.client import error_details

    return error_details(response)


TOKEN_ERRORS = ErrorMap(platform="Shopware", details=_token_details, auth_statuses=frozenset({400, 401, 403}))


def token_body(auth_method: str, credentials: Mapping[str, str]) -> dict[str, str]:
    """The grant's JSON body, as the Admin API spec requires it (``scope`` included)."""
    missing = [f for f in CREDENTIAL_FIELDS.get(auth_method, ()) if not credentials.get(f)]
    if auth_method not in CREDENTIAL_FIELDS:
        raise AuthRejected(f"Shopware has no login method {auth_method!r}", code="unknown_auth_method")
    if missing:
        raise AuthRejected(f"the Shopware connection lacks {', '.join(missing)} for {auth_method}",
                           code="missing_credentials")
    if auth_method == CLIENT_CREDENTIALS:
        return {"grant_type": "client_credentials", "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"]}
    return {"grant_type": "password", "client_id": "administration", "scope": "write",
            "username": credentials["username"], "password": credentials["password"]}


def request_token(http: httpx.Client, base_url: str, auth_method: str,
                  credentials: Mapping[str, str]) -> dict[str, Any]:
    """``POST /api/oauth/token``; a refused grant is ``AuthRejected`` with Shopware's reason."""
    body = token_body(auth_method, credentials)
    try:
        response = http.post(api_url(base_url, "oauth/token"), json=body, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        # a token request changes nothing: never an unknown outcome
        error = map_transport_error(exc, write=False, what="Shopware's token endpoint")
        raise error from exc
    failure: PlatformError | None = TOKEN_ERRORS.error_for(response)
    if failure is not None:
        if isinstance(failure, AuthRejected):
            failure = AuthRejected(f"Shopware refused the {auth_method} grant: {failure.message}",
                                   status_code=failure.status_code, code=failure.code)
        raise failure
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("access_token"), str) or \
            str(parsed.get("token_type", "")).lower() != "bearer":
        raise TransientError("Shopware's token endpoint answered without a bearer access token")
    return parsed


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class TokenManager:
    """Hands out a valid access token for one connection's login, fetching at most one at a time."""

    def __init__(self, ctx: ConnectionContext, auth_method: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.auth_method = auth_method or ctx.auth_method
        self.credentials = dict(credentials if credentials is not None else ctx.credentials)
        principal = self.credentials.get("client_id") or self.credentials.get("username") or ""
        self.key = f"shopware:{ctx.connection_id}:{self.auth_method}:{_fingerprint(principal)}"

    def access_token(self) -> str:
        token = self.ctx.tokens.get(self.key)
        if token:
            return token
        with self.ctx.tokens.lock(self.key):
            token = self.ctx.tokens.get(self.key)
            return token or self._fetch()

    def renew(self, rejected: str) -> str:
        """Replace a token Shopware refused, unless another worker already did."""
        with self.ctx.tokens.lock(self.key):
            current = self.ctx.tokens.get(self.key)
            if current and current != rejected:
                return current
            self.ctx.tokens.delete(self.key)
            return self._fetch()

    def _fetch(self) -> str:
        body = request_token(self.ctx.http, self.ctx.base_url, self.auth_method, self.credentials)
        try:
            lifetime = float(body.get("expires_in", 600))
        except (TypeError, ValueError):
            lifetime = 600.0
        ttl = max(1.0, lifetime - min(RENEW_MARGIN, lifetime * 0.1))
        token = str(body["access_token"])
        self.ctx.tokens.set(self.key, token, ttl)
        log.info("shopware.token_fetched", connection_id=self.ctx.connection_id, auth_method=self.auth_method)
        return token


class ShopwareAuth(httpx.Auth):
    """Bearer auth that renews the token once on a 401, then lets the 401 through."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.tokens.renew(token)}"
            yield request


__all__ = ["AUTH_METHODS", "CLIENT_CREDENTIALS", "PASSWORD", "RateLimited", "ShopwareAuth", "TokenManager",
           "api_url", "request_token"]
