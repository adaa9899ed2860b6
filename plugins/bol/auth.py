"""Bol access tokens: fetched once, shared by every worker, refreshed under a lock.

Bol hands out JWTs that live 299 s (client credentials) or ~600 s (code flow) and blocks clients
that fetch a token per call, so tokens live in the core's ``TokenStore`` and are reused until
shortly before they expire. Code-flow refresh tokens rotate: each refresh returns a new one and
only the newest works. Two workers refreshing at once would burn each other's token, so a refresh
happens only under ``tokens.lock`` with a double check, and the newest refresh token is kept in the
shared store (next to being persisted through ``ctx.save_credentials``) so a worker still holding
older credentials picks up the rotation instead of sending a dead token.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from kade.errors import AuthRejected, RateLimited, TransientError
from kade.httpkit import map_transport_error, retry_after_from
from kade.plugins.bol.protocol import REFRESH_TOKEN_DAYS
from kade.types import ConnectionContext

log = structlog.get_logger("kade.plugins.bol")

CLIENT_CREDENTIALS = "client_credentials"
AUTHORIZATION_CODE = "authorization_code"
#: how long the shared store remembers the newest refresh token of a connection
_CHAIN_TTL = (REFRESH_TOKEN_DAYS + 1) * 86_400.0
#: how many superseded refresh tokens (as hashes) the chain remembers
_CHAIN_MEMORY = 50


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, read without verifying it (only to report expiry dates)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def refresh_token_expiry(credentials: Mapping[str, str]) -> datetime | None:
    """When the code-flow consent ends: the stored date, else the refresh token's own ``exp``."""
    stored = credentials.get("refresh_token_expires_at")
    if stored:
        try:
            parsed = datetime.fromisoformat(stored)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    token = credentials.get("refresh_token")
    if not token:
        return None
    return jwt_expiry(token)


def request_token(
    http: httpx.Client, login_url: str, client_id: str, client_secret: str, form: Mapping[str, str]
) -> dict[str, Any]:
    """``POST {login_url}/token`` with Basic auth and the grant in the form body.

    Bol rejects credentials in the query string, so everything goes in the body.

    :raises AuthRejected: bol refused the client or the grant (bad secret, used code, dead refresh token).
    :raises RateLimited, TransientError: the login host is busy or unreachable.
    """
    url = login_url.rstrip("/") + "/token"
    try:
        response = http.post(
            url,
            data=dict(form),
            auth=httpx.BasicAuth(client_id, client_secret),
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        # a token request changes nothing worth checking: a lost answer is simply asked again
        raise map_transport_error(exc, write=False, what="bol's login host") from exc
    status = response.status_code
    try:
        parsed: Any = response.json()
    except ValueError:
        parsed = None
    body: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    if status == 200:
        token = body.get("access_token")
        if not isinstance(token, str) or str(body.get("token_type", "")).lower() != "bearer":
            raise TransientError("bol login host answered without a bearer access token")
        return body
    reason = body.get("error_description") or body.get("detail") or response.text[:200]
    error = body.get("error") or body.get("title") or f"http_{status}"
    if status == 429:
        raise RateLimited(f"bol login host rate-limited us: {reason}", retry_after=retry_after_from(response))
    if status >= 500:
        raise TransientError(f"bol login host failed ({status}): {reason}", status_code=status)
    grant = form.get("grant_type", "?")
    raise AuthRejected(f"bol refused the {grant} grant: {error}: {reason}", status_code=status, code=str(error))


class TokenManager:
    """Hands out a valid access token for one connection, refreshing it at most once at a time."""

    def __init__(self, ctx: ConnectionContext, login_url: str) -> None:
        self.ctx = ctx
        self.login_url = login_url
        client_id = ctx.credentials.get("client_id", "")
        self.key = f"bol:{ctx.connection_id}:{ctx.auth_method}:{_fingerprint(client_id)}"
        self.chain_key = f"bol:{ctx.connection_id}:refresh-chain"

    def access_token(self) -> str:
        """A cached token, or a new one fetched under the lock (double-checked)."""
        token = self.ctx.tokens.get(self.key)
        if token:
            return token
        with self.ctx.tokens.lock(self.key):
            token = self.ctx.tokens.get(self.key)
            if token:
                return token
            return self._fetch()

    def renew(self, rejected: str) -> str:
        """Replace a token bol refused (401), unless another worker already did."""
        with self.ctx.tokens.lock(self.key):
            current = self.ctx.tokens.get(self.key)
            if current and current != rejected:
                return current
            self.ctx.tokens.delete(self.key)
            return self._fetch()

    def _credential(self, name: str) -> str:
        value = self.ctx.credentials.get(name)
        if not value:
            raise AuthRejected(f"bol connection has no {name} for {self.ctx.auth_method}", code="missing_credentials")
        return value

    def _fetch(self) -> str:
        client_id = self._credential("client_id")
        secret = self._credential("client_secret")
        if self.ctx.auth_method == AUTHORIZATION_CODE:
            used = self._newest_refresh_token()
            body = request_token(
                self.ctx.http,
                self.login_url,
                client_id,
                secret,
                {"grant_type": "refresh_token", "refresh_token": used},
            )
            issued = body.get("refresh_token")
            if isinstance(issued, str) and issued and issued != used:
                self._rotate(used, issued)
        elif self.ctx.auth_method == CLIENT_CREDENTIALS:
            body = request_token(self.ctx.http, self.login_url, client_id, secret, {"grant_type": "client_credentials"})
        else:
            raise AuthRejected(f"bol has no auth method {self.ctx.auth_method!r}", code="unknown_auth_method")
        token = str(body["access_token"])
        try:
            lifetime = float(body.get("expires_in", 299))
        except (TypeError, ValueError):
            lifetime = 299.0
        # renew a little early so a token never expires between check and use
        ttl = max(1.0, lifetime - min(30.0, lifetime * 0.1))
        self.ctx.tokens.set(self.key, token, ttl)
        log.info("bol.token_fetched", connection_id=self.ctx.connection_id, auth_method=self.ctx.auth_method)
        return token

    def _chain(self) -> dict[str, Any] | None:
        raw = self.ctx.tokens.get(self.chain_key)
        if not raw:
            return None
        try:
            chain = json.loads(raw)
        except ValueError:
            return None
        return chain if isinstance(chain, dict) and isinstance(chain.get("token"), str) else None

    def _newest_refresh_token(self) -> str:
        """The connection's refresh token, or a newer one another worker rotated to.

        The shared chain wins only if it descends from the token in our credentials; credentials
        from a fresh consent (not in the chain) win over an old chain.
        """
        own = self._credential("refresh_token")
        chain = self._chain()
        if chain is not None and (chain["token"] == own or _fingerprint(own) in chain.get("ancestors", [])):
            return str(chain["token"])
        return own

    def _rotate(self, used: str, issued: str) -> None:
        chain = self._chain()
        ancestors = [_fingerprint(used)]
        if chain is not None and chain["token"] == used:
            ancestors += [a for a in chain.get("ancestors", []) if isinstance(a, str)]
        self.ctx.tokens.set(
            self.chain_key,
            json.dumps({"token": issued, "ancestors": ancestors[:_CHAIN_MEMORY]}),
            _CHAIN_TTL,
        )
        updated = dict(self.ctx.credentials)
        updated["refresh_token"] = issued
        expires = jwt_expiry(issued)
        if expires is not None:
            updated["refresh_token_expires_at"] = expires.isoformat()
        # later calls through this context must not send the superseded token
        self.ctx.credentials.update(updated)
        self.ctx.save_credentials(updated)
        log.info("bol.refresh_token_rotated", connection_id=self.ctx.connection_id)


def consent_expiry(refresh_token: str, now: datetime) -> datetime:
    """A new consent's end: the token's ``exp`` if it has one, else a year from now."""
    return jwt_expiry(refresh_token) or now + timedelta(days=REFRESH_TOKEN_DAYS)


class BolAuth(httpx.Auth):
    """Bearer auth that renews the token once when bol answers 401 (expired or revoked JWT)."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.access_token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {self.tokens.renew(token)}"
            yield request
