"""HTTP access to one CCV shop: signed requests, checked answers, paced per-minute budgets.

Requests go to ``<shop domain>/api/rest/v1/<resource>/``. Each is built first, so the signature
covers the path and query exactly as they go out, then sent; statuses map to Kade's errors
through ``kade.httpkit``'s ``ErrorMap`` reading CCV's ``{"code", "status", "developermessage"}``
body. A success is data only when its signature checks out: a read with a missing or wrong
signature is a transient error (a proxy or an impostor answered), a write one is
``OutcomeUnknown`` (the shop may have applied it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from kade.errors import AuthRejected, NotFound, OutcomeUnknown, RateLimited, RejectedByStore, TransientError
from kade.httpkit import ErrorMap, is_write, map_transport_error, retry_after_from
from kade.plugins.ccv.auth import answer_is_signed, keys, signature, x_date
from kade.plugins.ccv.pacing import Pacer
from kade.types import ConnectionContext

PREFIX = "/api/rest/v1/"
#: CCV's largest page (``size``)
MAX_PAGE = 250
ACCEPT = "application/vnd.verto.webshop+json"
#: a 429 without Retry-After waits this long (a per-minute window)
DEFAULT_WAIT = 60.0
#: unpublished limits: conservative defaults, raised per connection with the settings
DEFAULT_TOTAL_PER_MINUTE = 180
DEFAULT_METHOD_PER_MINUTE = 60


def _details(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("developermessage" in body or "code" in body):
        code = body.get("code")
        message = body.get("developermessage") or body.get("message") or f"HTTP {response.status_code}"
        return (str(code) if code is not None else None), f"{message} ({code})" if code else str(message)
    text = " ".join(response.text.split())[:200]
    return None, f"HTTP {response.status_code}" + (f": {text}" if text else "")


ERRORS = ErrorMap(platform="CCV Shop", details=_details)


def shop_root(base_url: str) -> str:
    parts = urlsplit(base_url if "://" in base_url else f"https://{base_url}")
    if not parts.hostname:
        raise RejectedByStore(f"CCV Shop base URL {base_url!r} has no host", code="invalid_base_url")
    return f"{parts.scheme}://{parts.netloc}"


def resource_of(path: str) -> str:
    """The resource a path addresses, for the per-method budget: ``orders/12/orderrows`` → orderrows."""
    names = [p for p in path.strip("/").split("/") if p and not p.isdigit()]
    return names[-1] if names else "root"


def _limit(ctx: ConnectionContext, name: str, default: int) -> int:
    raw = ctx.settings.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise RejectedByStore(f"CCV Shop {name} must be a whole number, not {raw!r}", code="invalid_setting") from None
    if value < 1:
        raise RejectedByStore(f"CCV Shop {name} must be at least 1, not {value}", code="invalid_setting")
    return value


_ID = re.compile(r"^\d+$")


class CcvClient:
    """Requests for one connection (or for other keys, when migrating)."""

    def __init__(self, ctx: ConnectionContext, *, auth_method: str | None = None,
                 credentials: Mapping[str, str] | None = None) -> None:
        self.ctx = ctx
        self.public, self.secret = keys(auth_method or ctx.auth_method,
                                        credentials if credentials is not None else ctx.credentials)
        self.root = shop_root(ctx.base_url)
        self.pacer = Pacer(ctx.tokens, f"{self.root}|{self.public}", lambda: ctx.now().timestamp(),
                           total=_limit(ctx, "requests_per_minute", DEFAULT_TOTAL_PER_MINUTE),
                           per_method=_limit(ctx, "requests_per_minute_per_method", DEFAULT_METHOD_PER_MINUTE))

    def request(self, method: str, path: str, *, params: Mapping[str, str | int] | None = None,
                body: Any = None) -> Any:
        """One signed call; the JSON of a signed success (None for an empty one), else a typed error."""
        method = method.upper()
        query = urlencode([(k, str(v)) for k, v in (params or {}).items()])
        resource = path.strip("/")
        url = f"{self.root}{PREFIX}{resource}{'/' if resource else ''}" + (f"?{query}" if query else "")
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
        request = self.ctx.http.build_request(method, url, content=content or None)
        uri = request.url.raw_path.decode("ascii")
        date = x_date(self.ctx.now())
        request.headers.update({
            "Accept": ACCEPT, "x-public": self.public, "x-date": date,
            "x-hash": signature(self.public, method, uri, content, date, self.secret),
        })
        if content:
            request.headers["Content-Type"] = "application/json"
        resource = resource_of(path)
        self.pacer.acquire(resource, method)
        try:
            response = self.ctx.http.send(request)
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, what="CCV Shop") from exc
        error = ERRORS.error_for(response)
        if isinstance(error, RateLimited):
            wait = retry_after_from(response, default=DEFAULT_WAIT)
            self.pacer.refused(resource, method, error.code, wait)
            raise RateLimited(error.message, retry_after=wait, status_code=429, code=error.code)
        if isinstance(error, AuthRejected):
            skew = _clock_skew(response, self.ctx.now().timestamp())
            if skew is not None:  # Kade's clock, not the keys: never a reason to deactivate the connection
                raise TransientError(f"CCV Shop refused the request's x-date: this server's clock is {skew:+.0f} s "
                                     "off the shop's (at most 300 s are accepted); synchronise the clock (NTP)",
                                     status_code=response.status_code, code="clock_skew")
        if error is not None:
            raise error
        problem = answer_is_signed(self.public, method, uri, response.content, response.headers, self.secret)
        if problem is not None:
            message = f"CCV Shop answer to {method} {uri} rejected: {problem}"
            if is_write(request):
                raise OutcomeUnknown(message, status_code=response.status_code, code="invalid_signature")
            raise TransientError(message, status_code=response.status_code, code="invalid_signature")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise TransientError(f"CCV Shop answered {method} {uri} with a body that is not JSON: "
                                 f"{response.text[:120]!r}") from None

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def patch(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.request("PATCH", path, body=dict(body))

    def collection(self, path: str, params: Mapping[str, str | int] | None = None) -> tuple[list[Any], bool]:
        """One page of a collection: its items and whether CCV links a next page."""
        data = self.get(path, params)
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise TransientError(f"CCV Shop's {path} answer has no items list: {str(data)[:120]}")
        return items, bool(data.get("next"))

    def every(self, path: str) -> list[Any]:
        """Every item of a small collection (an order's rows, a product's combinations)."""
        out: list[Any] = []
        start = 0
        while True:
            items, more = self.collection(path, {"start": start, "size": MAX_PAGE})
            out.extend(items)
            if not more or not items:
                return out
            start += len(items)


#: a shop clock this far from ours explains a refused login (CCV accepts 300 s)
SKEW_LIMIT = 240.0


def _clock_skew(response: httpx.Response, now: float) -> float | None:
    """Seconds our clock is off the shop's, from the answer's ``x-date`` or ``Date``, when that is too far."""
    theirs: float | None = None
    stamp = response.headers.get("x-date")
    if stamp:
        try:
            theirs = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            theirs = None
    if theirs is None and response.headers.get("date"):
        try:
            theirs = parsedate_to_datetime(response.headers["date"]).timestamp()
        except (TypeError, ValueError, IndexError):
            theirs = None
    if theirs is None or abs(now - theirs) <= SKEW_LIMIT:
        return None
    return now - theirs


def numeric_id(value: str, what: str) -> int:
    if not _ID.match(value):
        raise NotFound(f"{value!r} is not a CCV Shop {what} id")
    return int(value)
