"""GraphQL Admin API client: auth, cost-based throttling and error mapping.

Shopify rate-limits the GraphQL Admin API with a leaky bucket of query-cost points per app and
shop. Every response reports the bucket (``extensions.cost.throttleStatus``); the client keeps
that snapshot in the shared token store, estimates the next query's cost before sending it, and
either waits briefly or raises ``RateLimited`` with the exact time the bucket needs to refill,
instead of sending a query that is bound to come back THROTTLED.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from kade.errors import (
    AuthRejected,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    RejectedByStore,
    TransientError,
)
from kade.httpkit import ErrorMap, map_transport_error, retry_after_from
from kade.plugins.shopify.cost import requested_cost
from kade.plugins.shopify.queries import GRAPHQL_PATH, TOKEN_PATH, Operation
from kade.types import ConnectionContext

#: Patched by tests to advance a simulated clock instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep

ADMIN_TOKEN = "admin_token"
CLIENT_CREDENTIALS = "client_credentials"
AUTH_METHODS = (ADMIN_TOKEN, CLIENT_CREDENTIALS)

DEFAULT_MAX_WAIT = 10.0
#: Never keep a token until the very second Shopify expires it.
_TOKEN_MARGIN = 300.0


@dataclass(frozen=True)
class ThrottleStatus:
    """The bucket as the last response reported it, and when."""

    maximum: float
    available: float
    restore_rate: float
    at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + max(0.0, now - self.at) * self.restore_rate)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` points are available (0 when they already are)."""
        deficit = cost - self.available_at(now)
        if deficit <= 0 or self.restore_rate <= 0:
            return 0.0
        return deficit / self.restore_rate


def shop_domain(ctx: ConnectionContext) -> str:
    """The shop's myshopify.com host: the ``shop_domain`` setting, else the base URL's host."""
    configured = str(ctx.settings.get("shop_domain") or "").strip().lower()
    if configured:
        if "//" in configured:
            return urlsplit(configured).hostname or configured
        return configured.rstrip("/")
    return (urlsplit(ctx.base_url).hostname or ctx.base_url).lower()


def _need(credentials: Mapping[str, str], name: str, method: str) -> str:
    value = credentials.get(name)
    if not value:
        raise AuthRejected(f"{method} needs the credential {name!r}", code="missing_credentials")
    return value


def fetch_client_credentials_token(http: httpx.Client, client_id: str, client_secret: str) -> tuple[str, float]:
    """Exchange app credentials for an access token; returns (token, lifetime in seconds)."""
    try:
        response = http.post(
            TOKEN_PATH,
            json={"client_id": client_id, "client_secret": client_secret, "grant_type": "client_credentials"},
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        # a token request changes nothing worth checking: a lost answer is simply asked again
        raise map_transport_error(exc, write=False, what="Shopify's token endpoint") from exc
    if response.status_code == 429:
        raise RateLimited(retry_after=retry_after_from(response), code="token_endpoint")
    if response.status_code >= 500:
        raise TransientError(f"token endpoint answered {response.status_code}", status_code=response.status_code)
    body = _json_or_none(response)
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        reason = ""
        if isinstance(body, dict):
            reason = str(body.get("error_description") or body.get("error") or body.get("errors") or "")
        raise AuthRejected(
            f"Shopify refused the client credentials ({response.status_code}): {reason or response.text[:200]}",
            status_code=response.status_code,
            code=str(body.get("error")) if isinstance(body, dict) and body.get("error") else "invalid_client",
        )
    expires_in = float(body.get("expires_in") or 86_399)
    return str(body["access_token"]), expires_in


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class ShopifyClient:
    """Sends the plugin's GraphQL operations for one connection.

    ``credentials``/``auth_method`` override the connection's own, so a migration can prove
    new credentials with a live call before the core switches to them.
    """

    def __init__(
        self,
        ctx: ConnectionContext,
        *,
        auth_method: str | None = None,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.ctx = ctx
        self.auth_method = auth_method or ctx.auth_method
        if self.auth_method not in AUTH_METHODS:
            raise AuthRejected(f"unknown Shopify auth method {self.auth_method!r}", code="unknown_auth_method")
        self.credentials: Mapping[str, str] = credentials if credentials is not None else ctx.credentials
        self.domain = shop_domain(ctx)
        self.max_wait = float(ctx.settings.get("max_throttle_wait", DEFAULT_MAX_WAIT))
        if self.auth_method == CLIENT_CREDENTIALS:
            identity = _need(self.credentials, "client_id", CLIENT_CREDENTIALS)
        else:
            token = _need(self.credentials, "access_token", ADMIN_TOKEN)
            identity = hashlib.sha256(token.encode()).hexdigest()[:16]
        self._token_key = f"shopify:token:{self.domain}:{identity}"
        self._cost_key = f"shopify:cost:{self.domain}:{identity}"

    # ---------------------------------------------------------------- auth

    def _now(self) -> float:
        return self.ctx.now().timestamp()

    def access_token(self) -> str:
        """The token to send: the static admin token, or a shared, reused client-credentials one."""
        if self.auth_method == ADMIN_TOKEN:
            return _need(self.credentials, "access_token", ADMIN_TOKEN)
        cached = self.ctx.tokens.get(self._token_key)
        if cached:
            return cached
        with self.ctx.tokens.lock(self._token_key):
            cached = self.ctx.tokens.get(self._token_key)
            if cached:
                return cached
            return self._fetch_and_store()

    def _fetch_and_store(self) -> str:
        token, lifetime = fetch_client_credentials_token(
            self.ctx.http,
            _need(self.credentials, "client_id", CLIENT_CREDENTIALS),
            _need(self.credentials, "client_secret", CLIENT_CREDENTIALS),
        )
        ttl = max(1.0, lifetime - min(_TOKEN_MARGIN, lifetime * 0.1))
        self.ctx.tokens.set(self._token_key, token, ttl)
        return token

    def fresh_token(self) -> str:
        """Run the client-credentials grant now (never a cached token), e.g. to prove new credentials."""
        with self.ctx.tokens.lock(self._token_key):
            return self._fetch_and_store()

    def _refresh(self, rejected: str) -> str:
        """Replace a token Shopify refused, unless another worker already did."""
        with self.ctx.tokens.lock(self._token_key):
            current = self.ctx.tokens.get(self._token_key)
            if current and current != rejected:
                return current
            self.ctx.tokens.delete(self._token_key)
            return self._fetch_and_store()

    # ---------------------------------------------------------------- throttling

    def throttle_status(self) -> ThrottleStatus | None:
        raw = self.ctx.tokens.get(self._cost_key)
        if not raw:
            return None
        try:
            item = json.loads(raw)
            return ThrottleStatus(
                float(item["maximum"]), float(item["available"]), float(item["restore_rate"]), float(item["at"])
            )
        except (ValueError, KeyError, TypeError):
            return None

    def _remember(self, payload: Mapping[str, Any]) -> ThrottleStatus | None:
        cost = (payload.get("extensions") or {}).get("cost") if isinstance(payload, Mapping) else None
        status = cost.get("throttleStatus") if isinstance(cost, Mapping) else None
        if not isinstance(status, Mapping):
            return None
        try:
            snap = ThrottleStatus(
                float(status["maximumAvailable"]),
                float(status["currentlyAvailable"]),
                float(status["restoreRate"]),
                self._now(),
            )
        except (KeyError, TypeError, ValueError):
            return None
        ttl = (snap.maximum - snap.available) / snap.restore_rate + 1 if snap.restore_rate > 0 else 3600
        self.ctx.tokens.set(
            self._cost_key,
            json.dumps(
                {"maximum": snap.maximum, "available": snap.available, "restore_rate": snap.restore_rate, "at": snap.at}
            ),
            max(1.0, ttl),
        )
        return snap

    def _await_capacity(self, cost: int) -> None:
        snap = self.throttle_status()
        if snap is None:
            return
        if cost > snap.maximum:
            raise RejectedByStore(
                f"query cost {cost} can never fit the shop's bucket of {snap.maximum:g} points",
                code="MAX_COST_EXCEEDED",
            )
        self._wait_or_raise(snap.wait_for(cost, self._now()), cost)

    def _wait_or_raise(self, wait: float, cost: float) -> None:
        if wait <= 0:
            return
        if wait > self.max_wait:
            raise RateLimited(
                f"query needs {cost:g} cost points; the bucket refills in {wait:.2f}s",
                retry_after=wait,
                status_code=None,
                code="THROTTLED",
            )
        SLEEP(wait)

    # ---------------------------------------------------------------- requests

    def execute(self, op: Operation, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run ``op`` and return its ``data``; raise the ``PlatformError`` family on failure."""
        variables = dict(variables or {})
        cost = requested_cost(op.document, variables)
        self._await_capacity(cost)
        refreshed = throttled_once = False
        while True:
            token = self.access_token()
            response = self._post(op, variables, token)
            if response.status_code == 401 and self.auth_method == CLIENT_CREDENTIALS and not refreshed:
                refreshed = True
                self._refresh(token)
                continue
            payload = self._payload(op, response)
            snap = self._remember(payload)
            errors = payload.get("errors")
            if errors:
                if _codes(errors) & {"THROTTLED"}:
                    requested = _requested_cost(payload, cost)
                    wait = snap.wait_for(requested, self._now()) if snap else 1.0
                    if not throttled_once and wait <= self.max_wait:
                        throttled_once = True
                        SLEEP(wait)
                        continue
                    raise RateLimited(
                        f"Shopify throttled a query of {requested:g} points",
                        retry_after=max(wait, 0.001),
                        status_code=response.status_code,
                        code="THROTTLED",
                    )
                raise _graphql_error(op, errors)
            data = payload.get("data")
            if not isinstance(data, dict):
                raise _unknown_or_transient(op, "Shopify answered without data")
            return data

    def _post(self, op: Operation, variables: Mapping[str, Any], token: str) -> httpx.Response:
        try:
            return self.ctx.http.post(
                GRAPHQL_PATH,
                json={"query": op.document, "variables": dict(variables), "operationName": op.name},
                headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            # every call is a POST: whether a lost answer may hide a change is the operation's to say
            raise map_transport_error(exc, write=op.mutation, what=f"Shopify ({op.name})") from exc

    def _payload(self, op: Operation, response: httpx.Response) -> dict[str, Any]:
        ERRORS.raise_for_status(response, write=op.mutation)
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            if response.status_code == 200:
                raise _unknown_or_transient(op, f"{op.name}: Shopify answered with invalid JSON")
            raise RejectedByStore(f"{op.name}: Shopify answered {response.status_code}: {response.text[:200]}",
                                  status_code=response.status_code)
        return body


def _details(response: httpx.Response) -> tuple[str | None, str]:
    """Shopify's HTTP-level error body: ``{"errors": "..."}`` (or an object), else the text."""
    body = _json_or_none(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    message = errors if isinstance(errors, str) else json.dumps(errors) if errors else response.text.strip()
    return None, f"HTTP {response.status_code}: {message[:200]}" if message else f"HTTP {response.status_code}"


def _shop_unavailable(message: str, status: int, code: str | None) -> PlatformError:
    return RejectedByStore(f"the shop is unavailable ({status}): {message}", status_code=status,
                           code="shop_unavailable")


#: Shopify's HTTP-level answers (GraphQL errors come in a 200 and are read by ``_graphql_error``):
#: any 5xx on a mutation may hide an applied change; 402 (frozen) and 423 (locked) shops refuse
ERRORS = ErrorMap(
    platform="Shopify",
    details=_details,
    ambiguous_write_statuses=frozenset(range(500, 600)),
    overrides={(402, None): _shop_unavailable, (423, None): _shop_unavailable},
)


def _codes(errors: Any) -> set[str]:
    codes: set[str] = set()
    if isinstance(errors, list):
        for err in errors:
            ext = err.get("extensions") if isinstance(err, Mapping) else None
            if isinstance(ext, Mapping) and ext.get("code"):
                codes.add(str(ext["code"]))
    return codes


def _requested_cost(payload: Mapping[str, Any], fallback: float) -> float:
    cost = (payload.get("extensions") or {}).get("cost")
    if isinstance(cost, Mapping) and isinstance(cost.get("requestedQueryCost"), int | float):
        return float(cost["requestedQueryCost"])
    return fallback


def _unknown_or_transient(op: Operation, message: str) -> TransientError:
    """A mutation whose answer was lost may have been applied; a query is simply retried."""
    return OutcomeUnknown(message) if op.mutation else TransientError(message)


def _graphql_error(op: Operation, errors: Any) -> PlatformError:
    messages = []
    if isinstance(errors, list):
        messages = [str(e.get("message")) for e in errors if isinstance(e, Mapping) and e.get("message")]
    elif isinstance(errors, str):
        messages = [errors]
    message = f"{op.name}: " + ("; ".join(messages) or "Shopify returned errors")
    codes = _codes(errors)
    if "ACCESS_DENIED" in codes:
        return AuthRejected(message, code="ACCESS_DENIED")
    if "INTERNAL_SERVER_ERROR" in codes:
        return _unknown_or_transient(op, message)
    return RejectedByStore(message, code=sorted(codes)[0] if codes else "graphql_error")
