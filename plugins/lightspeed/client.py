"""HTTP access to one Lightspeed eCom shop: cluster host, language segment, Basic auth, pacing.

URLs are ``https://<cluster host>/<language>/<resource>.json``. Answers are errors when their
status is not 2xx *or* their body has an ``error`` key (``{"error": {"code", "method", "request",
"message"}}``). Statuses map to Kade's errors through ``kade.httpkit``; 429 is handled here, with
the three-window budget (``pacing``): reads wait for a 5-minute reset and try again, writes and
longer waits go back to the core as ``RateLimited``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from kade.errors import PlatformError, RateLimited, RejectedByStore, TransientError
from kade.httpkit import ErrorMap, map_transport_error
from kade.plugins.lightspeed.auth import basic_login
from kade.plugins.lightspeed.pacing import Pacer
from kade.types import ConnectionContext

#: cluster → API host
CLUSTER_HOSTS = {"eu1": "api.webshopapp.com", "us1": "api.shoplightspeed.com"}
DEFAULT_LANGUAGE = "nl"
#: Lightspeed's largest page (``limit``)
MAX_PAGE = 250
#: a read waits inline for a window's reset up to this: any 5-minute reset fits, and it stays under the
#: core's import lease (600 s by default, renewed per page); a spent hour or day window goes back to
#: the core as ``RateLimited`` (the next poll resumes, with already-read order lines cached)
READ_WAIT = 540.0
#: a write hands longer waits to the core's scheduler (the worker is free meanwhile)
WRITE_WAIT = 30.0
#: reads refused with 429 (budget spent by another client) are sent again this often at most
READ_RETRIES = 3
_LANGUAGE = re.compile(r"^[a-z]{2}$")


def _details(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code")
        return (str(code) if code is not None else None), str(err.get("message") or f"HTTP {response.status_code}")
    text = " ".join(response.text.split())[:200]
    return None, f"HTTP {response.status_code}" + (f": {text}" if text else "")


ERRORS = ErrorMap(platform="Lightspeed", details=_details)


def language_of(ctx: ConnectionContext) -> str:
    """The ``language`` setting, else a two-letter segment in the base URL, else ``nl``."""
    setting = str(ctx.settings.get("language") or "").strip().lower()
    path = [p for p in urlsplit(ctx.base_url).path.split("/") if p]
    language = setting or (path[0].lower() if path else DEFAULT_LANGUAGE)
    if not _LANGUAGE.match(language):
        raise RejectedByStore(f"Lightspeed language {language!r} is not a two-letter code (nl, en, de...)",
                              code="invalid_language")
    return language


def api_root(base_url: str) -> str:
    """Scheme and host of the base URL (a language segment in it is read by ``language_of``)."""
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    if not parts.hostname:
        raise RejectedByStore(f"Lightspeed base URL {base_url!r} has no host", code="invalid_base_url")
    return f"{parts.scheme}://{parts.netloc}"


class LightspeedClient:
    """Requests for one connection (or for other credentials, when migrating)."""

    def __init__(self, ctx: ConnectionContext, *, auth_method: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        user, password = basic_login(auth_method or ctx.auth_method,
                                     credentials if credentials is not None else ctx.credentials)
        self.auth = httpx.BasicAuth(user, password)
        self.root = api_root(ctx.base_url)
        self.language = language_of(ctx)
        self.pacer = Pacer(ctx.tokens, f"{self.root}|{user}", lambda: ctx.now().timestamp())

    def url(self, resource: str) -> str:
        return f"{self.root}/{self.language}/{resource.strip('/')}.json"

    def request(self, method: str, resource: str, *, params: Mapping[str, str | int] | None = None,
                body: Any = None) -> Any:
        """One call; the unwrapped JSON body of a success, a typed ``PlatformError`` otherwise."""
        method = method.upper()
        read = method == "GET"
        query = {k: str(v) for k, v in (params or {}).items()}
        for attempt in range(READ_RETRIES + 1):
            self.pacer.acquire(READ_WAIT if read else WRITE_WAIT)
            try:
                response = self.ctx.http.request(method, self.url(resource), params=query or None, json=body,
                                                 auth=self.auth)
            except httpx.HTTPError as exc:
                raise map_transport_error(exc, what="Lightspeed") from exc
            if response.status_code == 429:
                wait, recorded = self.pacer.refused(response.headers)
                if read and attempt < READ_RETRIES and wait <= READ_WAIT:
                    if not recorded:
                        self.pacer.pause(wait)
                    continue  # acquire() waits for the reset the refusal announced
                _, message = _details(response)
                raise RateLimited(f"Lightspeed is rate limiting: {message}", retry_after=wait, status_code=429)
            self.pacer.observe(response.headers)
            return self._parse(response)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _parse(response: httpx.Response) -> Any:
        ERRORS.raise_for_status(response)
        if response.status_code == 204 or not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise TransientError(f"Lightspeed answered {response.request.method} {response.request.url.path} "
                                 f"with a body that is not JSON: {response.text[:120]!r}") from None
        if isinstance(data, dict) and "error" in data:
            code, message = _details(response)
            error: PlatformError = RejectedByStore(message, status_code=response.status_code, code=code)
            raise error
        return data

    def get(self, resource: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.request("GET", resource, params=params)

    def put(self, resource: str, body: Any) -> Any:
        return self.request("PUT", resource, body=body)


def unwrap(data: Any, key: str, kind: type) -> Any:
    """The value under ``key`` of an answer, checked to be a ``kind`` (dict or list)."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, kind):
        raise TransientError(f"Lightspeed answer lacks {key!r} ({kind.__name__}): {str(data)[:120]}")
    return value
