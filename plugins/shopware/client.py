"""HTTP access to one shop's Admin API: JSON, Bearer tokens, Shopware's error envelope.

Every answer goes through ``kade.httpkit``: one ``ErrorMap`` reads ``{"errors": [...]}`` bodies
and knows Shopware's special answers (an illegal state transition is a refusal that names the
transitions that were possible).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from kade.errors import OutcomeUnknown, PlatformError, RejectedByStore, TransientError
from kade.httpkit import ErrorMap, send
from kade.plugins.shopware.auth import ShopwareAuth, TokenManager, api_url
from kade.types import ConnectionContext

ILLEGAL_TRANSITION = "SYSTEM__ILLEGAL_STATE_TRANSITION"


def error_details(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) from ``{"errors": [{"status", "code", "title", "detail", "source", "meta"}]}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
        parts = []
        for error in errors[:5]:
            text = str(error.get("detail") or error.get("title") or error.get("code") or "error")
            pointer = (error.get("source") or {}).get("pointer") if isinstance(error.get("source"), dict) else None
            parts.append(f"{text} ({pointer})" if pointer else text)
        more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
        code = errors[0].get("code")
        return (str(code) if code is not None else None), "; ".join(parts) + more
    text = " ".join(response.text.split())[:200]
    return None, f"HTTP {response.status_code}" + (f": {text}" if text else "")


def _illegal_transition(message: str, status: int, code: str | None) -> PlatformError:
    return RejectedByStore(f"Shopware refused the state change: {message}", status_code=status, code=code)


ERRORS = ErrorMap(
    platform="Shopware",
    details=error_details,
    overrides={(400, ILLEGAL_TRANSITION): _illegal_transition},
)


class ShopwareClient:
    def __init__(self, ctx: ConnectionContext, *, auth_method: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.tokens = TokenManager(ctx, auth_method, credentials)
        self.auth = ShopwareAuth(self.tokens)

    def request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None,
                headers: Mapping[str, str] | None = None) -> httpx.Response:
        merged = {"Accept": "application/json", **(headers or {})}
        return send(self.ctx.http, method, api_url(self.ctx.base_url, path), errors=ERRORS, auth=self.auth,
                    json=json, params=params, headers=merged)

    def call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None) -> Any:
        response = self.request(method, path, json=json, params=params, headers=headers)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"Shopware answered {method} {path} with something that is not JSON") from None

    def search(self, entity: str, criteria: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
        """``POST /api/search/<entity>``: the records and the total Shopware reported."""
        try:
            body = self.call("POST", f"search/{entity}", json=dict(criteria))
        except OutcomeUnknown as exc:  # a search is a read, although it is a POST: safe to send again
            raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise TransientError(f"Shopware's search/{entity} answer has no data list")
        total = body.get("total")
        return [r for r in body["data"] if isinstance(r, dict)] + [
            {"__malformed__": r} for r in body["data"] if not isinstance(r, dict)
        ], total if isinstance(total, int) else None
