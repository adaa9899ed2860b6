"""HTTP access to the Retailer API: vendor media types, typed errors, process-status polling.

Every call goes through ``ctx.http`` (the core owns base URL, timeouts and transport). Errors are
translated once, here, through ``kade.httpkit`` (``ERRORS`` reads bol's problem bodies) into the
``kade.errors`` family, so the hooks stay about bol's semantics.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kade.errors import TransientError
from kade.httpkit import ErrorMap, map_transport_error, retry_after_from
from kade.plugins.bol.auth import BolAuth, TokenManager
from kade.plugins.bol.protocol import JSON_TYPE
from kade.types import ConnectionContext, SettingSpec

#: how the plugin waits; tests swap it for a simulated clock's ``advance``
sleep: Callable[[float], None] = time.sleep

#: pauses between process-status polls (seconds); the last one repeats
_POLL_INTERVALS = (0.5, 0.5, 1.0, 1.0, 2.0)
#: 429s with a Retry-After at most this long are waited out inline, at most this many times
_INLINE_RETRIES = 3

SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="login_url",
        default="https://login.bol.com",
        description="bol's login host; tokens come from {login_url}/token",
    ),
    SettingSpec(
        name="fulfilment_method",
        type="choice",
        choices=("ALL", "FBR"),
        default="ALL",
        description="which orders to list: ALL also returns bol-fulfilled (FBB) lines, which Kade drops",
    ),
    SettingSpec(
        name="process_wait_seconds",
        type="int",
        default=10,
        description="how long a shipment or cancellation waits for bol's asynchronous result before "
        "it is reported as pending",
    ),
    SettingSpec(
        name="stock_managed_by_retailer",
        type="bool",
        default=True,
        description="managedByRetailer on stock updates: true means bol only subtracts orders placed "
        "after the update (Kade's stock already excludes imported orders)",
    ),
    SettingSpec(
        name="fallback_transporter_code",
        default="",
        description="bol transporter code for carriers bol does not know (e.g. OTHER); empty refuses them",
    ),
    SettingSpec(
        name="offer_export_reuse_seconds",
        type="int",
        default=900,
        description="reuse an offer export this recent for catalogue reads and stock reads "
        "(bol allows about 9 exports an hour)",
    ),
    SettingSpec(
        name="export_page_size",
        type="int",
        default=1000,
        description="offers per page when reading the offer export",
    ),
    SettingSpec(
        name="max_inline_wait_seconds",
        type="int",
        default=2,
        description="a rate limit that clears within this many seconds is waited out inside the call",
    ),
)


@dataclass(frozen=True)
class BolSettings:
    """The connection's settings, typed, with defaults for anything not set."""

    login_url: str
    fulfilment_method: str
    process_wait_seconds: int
    stock_managed_by_retailer: bool
    fallback_transporter_code: str
    offer_export_reuse_seconds: int
    export_page_size: int
    max_inline_wait_seconds: int

    @classmethod
    def from_ctx(cls, ctx: ConnectionContext) -> BolSettings:
        values: dict[str, Any] = {}
        for spec in SETTINGS:
            raw = ctx.settings.get(spec.name, spec.default)
            values[spec.name] = spec.parse(raw) if raw is not None else spec.default
        values["export_page_size"] = max(1, int(values["export_page_size"]))
        return cls(**values)


def problem_text(response: httpx.Response) -> str:
    """A one-line reason from bol's problem body (title, detail and violations)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return str(body)[:300]
    parts = [str(body.get("title") or f"HTTP {response.status_code}")]
    if body.get("detail"):
        parts.append(str(body["detail"]))
    violations = body.get("violations")
    if isinstance(violations, list) and violations:
        parts.append(
            "; ".join(f"{v.get('name')}: {v.get('reason')}" if isinstance(v, dict) else str(v) for v in violations)
        )
    return ": ".join(parts)


def retry_after(response: httpx.Response) -> float:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``."""
    return retry_after_from(response, headers=ERRORS.retry_headers)


def _problem_code(response: httpx.Response) -> str:
    try:
        title = response.json().get("title")
    except (ValueError, AttributeError):
        title = None
    if isinstance(title, str) and title:
        return "_".join(title.lower().split())
    return f"http_{response.status_code}"


def _details(response: httpx.Response) -> tuple[str | None, str]:
    return _problem_code(response), problem_text(response)


#: bol's answers as Kade's errors: only a gateway timeout (504) on a write may hide an applied call
ERRORS = ErrorMap(
    platform="bol",
    details=_details,
    ambiguous_write_statuses=frozenset({504}),
    retry_headers=("Retry-After", "X-RateLimit-Reset"),
)


def raise_for_status(response: httpx.Response) -> None:
    """Turn a non-2xx answer into the matching ``PlatformError``."""
    ERRORS.raise_for_status(response)


class BolClient:
    """Retailer API calls for one connection."""

    def __init__(self, ctx: ConnectionContext, settings: BolSettings | None = None) -> None:
        self.ctx = ctx
        self.settings = settings or BolSettings.from_ctx(ctx)
        self.tokens = TokenManager(ctx, self.settings.login_url)
        self.auth = BolAuth(self.tokens)

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        accept: str = JSON_TYPE,
        bearer: str | None = None,
    ) -> httpx.Response:
        """Send one call and return the 2xx answer; anything else raises a ``PlatformError``.

        :param bearer: use this access token as is, instead of the connection's (used to verify
            new credentials before they are stored).
        """
        headers = {"Accept": accept}
        content: bytes | None = None
        if body is not None:
            headers["Content-Type"] = JSON_TYPE
            content = json.dumps(body, separators=(",", ":")).encode()
        auth: httpx.Auth = self.auth
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
            auth = _NoAuth()
        for attempt in range(_INLINE_RETRIES + 1):
            response = self._send(method, path, params=params, headers=headers, content=content, auth=auth)
            if response.status_code == 429 and attempt < _INLINE_RETRIES:
                wait = retry_after(response)
                if wait <= self.settings.max_inline_wait_seconds:
                    # a page of order details easily crosses a per-second bucket; waiting a moment
                    # here keeps the page whole instead of failing it and starting over
                    sleep(wait)
                    continue
            raise_for_status(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None,
        headers: dict[str, str],
        content: bytes | None,
        auth: httpx.Auth,
    ) -> httpx.Response:
        try:
            return self.ctx.http.request(
                method, path, params=dict(params) if params else None, headers=headers, content=content, auth=auth
            )
        except httpx.HTTPError as exc:
            raise map_transport_error(exc, what="bol") from exc

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        return _json_object(self.request("GET", path, params=params))

    def send_json(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """A write; bol answers 202 with a process status."""
        return _json_object(self.request(method, path, body=body))

    def download(self, path: str, destination: Path, accept: str) -> None:
        """Stream a file (the offer export) to disk so memory stays bounded whatever its size."""
        # a unique partial name, so two workers downloading the same report never mix their bytes
        partial = destination.with_name(f"{destination.name}.{os.getpid()}.{uuid.uuid4().hex}.part")
        try:
            with self.ctx.http.stream("GET", path, headers={"Accept": accept}, auth=self.auth) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_status(response)
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise map_transport_error(exc, write=False, what="bol") from exc
        partial.replace(destination)

    # -- asynchronous processes ----------------------------------------------------------------

    def process_status(self, process_id: str) -> dict[str, Any]:
        return self.get_json(f"/shared/process-status/{process_id}")

    def wait_for_process(self, process: dict[str, Any], wait_seconds: float) -> dict[str, Any]:
        """Poll a process status until it leaves PENDING or ``wait_seconds`` of waiting is used up."""
        waited = 0.0
        step = 0
        while process.get("status") == "PENDING":
            pause = _POLL_INTERVALS[min(step, len(_POLL_INTERVALS) - 1)]
            if waited + pause > wait_seconds:
                break
            sleep(pause)
            waited += pause
            step += 1
            process = self.process_status(process_id(process))
        return process


def process_id(process: Mapping[str, Any]) -> str:
    """The process status id (older answers call it ``id``)."""
    value = process.get("processStatusId") or process.get("id")
    if not value:
        raise TransientError("bol answered a write without a process status id")
    return str(value)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except ValueError as exc:
        raise TransientError(f"bol answered {response.request.url.path} with invalid JSON") from exc
    if not isinstance(body, dict):
        raise TransientError(f"bol answered {response.request.url.path} with {type(body).__name__}, not an object")
    return body


class _NoAuth(httpx.Auth):
    """Leaves the request's own Authorization header alone (and stops the client's default auth)."""

    def auth_flow(self, request: httpx.Request) -> Any:
        yield request
