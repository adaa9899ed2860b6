"""HTTP access to one Magento store: URLs, signing, searchCriteria and error translation.

URLs are ``<base>/rest/<store code>/V1/<resource>``. Errors arrive as ``{"message",
"parameters"}`` with ``%1`` (a list) or ``%name`` (an object) placeholders; they are filled in
here, once, and the status mapped through ``kade.httpkit`` like every other platform.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from kade.errors import AuthRejected
from kade.httpkit import ErrorMap, send
from kade.plugins.magento.auth import BEARER, build_auth
from kade.types import ConnectionContext

NO_ROUTE = "Request does not match any route."
Query = list[tuple[str, str]]
#: (field, value, condition type)
Filter = tuple[str, str, str]


def fill(message: str, parameters: Any) -> str:
    """Magento's ``Phrase`` rendering: ``%1``.. from a list, ``%name`` from an object."""
    if isinstance(parameters, list):
        for n in range(len(parameters), 0, -1):  # %10 before %1
            message = message.replace(f"%{n}", str(parameters[n - 1]))
    elif isinstance(parameters, dict):
        for name in sorted(parameters, key=len, reverse=True):
            message = message.replace(f"%{name}", str(parameters[name]))
    return message


def error_details(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) of an ``error-response``; HTML from a proxy becomes its first words."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = fill(body["message"], body.get("parameters"))
        code = "no_route" if message == NO_ROUTE else None
        return code, message
    text = " ".join(response.text.split())[:200]
    return None, f"HTTP {response.status_code}" + (f": {text}" if text else "")


ERRORS = ErrorMap(platform="Magento", details=error_details)


def criteria(groups: Sequence[Sequence[Filter]] = (), *, page_size: int | None = None, current_page: int = 1,
             sort: Sequence[tuple[str, str]] = ()) -> Query:
    """``searchCriteria`` query parameters: filters in a group are OR-ed, groups AND-ed."""
    query: Query = []
    for g, group in enumerate(groups):
        for f, (field, value, condition) in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            query += [(f"{prefix}[field]", field), (f"{prefix}[value]", value),
                      (f"{prefix}[condition_type]", condition)]
    for n, (field, direction) in enumerate(sort):
        query += [(f"searchCriteria[sortOrders][{n}][field]", field),
                  (f"searchCriteria[sortOrders][{n}][direction]", direction)]
    if page_size is not None:
        query += [("searchCriteria[pageSize]", str(page_size)), ("searchCriteria[currentPage]", str(current_page))]
    return query


class MagentoClient:
    """Requests against one store view, through the connection's ``ctx.http``."""

    def __init__(self, ctx: ConnectionContext, *, auth_method: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.auth_method = auth_method or ctx.auth_method
        self.auth = build_auth(self.auth_method, credentials if credentials is not None else ctx.credentials,
                               now=ctx.now)
        store = str(ctx.settings.get("store_code") or "default").strip()
        if not re.fullmatch(r"[a-z0-9_]+", store):
            raise AuthRejected(f"Magento store code {store!r} is not valid (lowercase letters, digits, _)",
                               code="invalid_store_code")
        self.prefix = f"{ctx.base_url.rstrip('/')}/rest/{store}/V1"

    def request(self, method: str, path: str, *, params: Query | None = None, json: Any = None) -> httpx.Response:
        url = f"{self.prefix}/{path.lstrip('/')}"
        try:
            return send(self.ctx.http, method, url, errors=ERRORS, params=params, json=json, auth=self.auth)
        except AuthRejected as exc:
            if self.auth_method == BEARER:
                raise AuthRejected(
                    f"{exc.message}. Since 2.4.4 Magento accepts an integration token as a bearer only when "
                    "'Allow OAuth Access Tokens to be used as standalone Bearer tokens' is on; migrate this "
                    "connection to oauth1 with the integration's four credentials",
                    status_code=exc.status_code, code=exc.code) from exc
            raise

    def get(self, path: str, params: Query | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def send(self, method: str, path: str, body: Any) -> Any:
        return self.request(method, path, json=body).json()
