"""The nightly stock read as one bulk operation, handed to the core page by page.

Paging ``location.inventoryLevels`` costs about 3 points per level: a million variants are
hours of a 50–100 points/s bucket. A bulk query costs a few points however large the shop is;
Shopify writes the result as a JSONL file and Kade downloads it.

The ``read_stock`` hook stays a paged contract (the core commits one page at a time). The first
call runs the export and waits for it; every call then reads one byte window of the file with
an HTTP ``Range`` request, and the page token holds the file's URL and the byte offset of the
next line. Nothing is kept between calls (any worker can read the next page, a crash loses
nothing but the page), and memory is one window, never the file.

Shopify runs one bulk query per app and shop at a time (2025-01). A running export of this
same query is adopted and waited for: it is ours, from an attempt that gave up waiting. Any
other running query is left alone and reported as a ``TransientError``: cancelling another
job's export, or waiting an unknown time for it inside a worker, would be worse than retrying.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from kade.errors import AuthRejected, NotFound, RateLimited, RejectedByStore, TransientError
from kade.httpkit import map_transport_error, retry_after_from
from kade.mapping import MappingError
from kade.plugins.shopify import client as client_module
from kade.plugins.shopify.client import ShopifyClient
from kade.plugins.shopify.mapping import stock_from_level
from kade.plugins.shopify.queries import BULK_CURRENT, BULK_POLL, BULK_RUN, bulk_stock_query
from kade.types import RemoteStock

log = logging.getLogger(__name__)

#: bytes of the result file per page: ~3,000 inventory levels, one window in memory at a time
PAGE_BYTES = 512 * 1024
UNFINISHED = frozenset({"CREATED", "RUNNING", "CANCELING"})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask whether the export is done: ``first`` seconds, growing by ``factor`` up
    to ``cap``; after ``max_wait`` seconds in all the attempt gives up (the export runs on, and
    the next attempt adopts it)."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    max_wait: float = 2 * 3600.0

    def intervals(self) -> Iterator[float]:
        pause = self.first
        while True:
            yield pause
            pause = min(self.cap, pause * self.factor)


#: Replaced by tests and benchmarks; the pause itself goes through ``client.SLEEP``.
POLL = PollPolicy()


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the result file, a byte offset, and whether the bytes there
    are the rest of an over-long line still to be skipped."""

    url: str
    offset: int
    location: str
    skipping: bool = False

    def token(self) -> dict[str, Any]:
        return {"u": self.url, "o": self.offset, "l": self.location, "s": self.skipping}

    @classmethod
    def from_token(cls, data: dict[str, Any]) -> Cursor:
        url, offset, location = data.get("u"), data.get("o"), data.get("l")
        if not isinstance(url, str) or not isinstance(offset, int) or offset < 0 or not isinstance(location, str):
            raise RejectedByStore("the stock page token was not made by this plugin", code="bad_page_token")
        return cls(url, offset, location, bool(data.get("s")))


# -------------------------------------------------------------------------------- the export


def _same_query(a: Any, b: str) -> bool:
    return isinstance(a, str) and " ".join(a.split()) == " ".join(b.split())


def _failed(op: dict[str, Any]) -> Exception:
    status, code = op.get("status"), op.get("errorCode")
    what = f"Shopify bulk operation {op.get('id')} ended {status}" + (f" ({code})" if code else "")
    if code == "ACCESS_DENIED":
        return AuthRejected(f"{what}: the app may not read inventory or locations", code="ACCESS_DENIED")
    return TransientError(f"{what}; the next attempt starts a new export", code=f"bulk_{str(status).lower()}")


def run_export(client: ShopifyClient, location: str) -> dict[str, Any]:
    """Start (or adopt) the stock export of ``location`` and wait until it is COMPLETED."""
    query = bulk_stock_query(location)
    data = client.execute(BULK_CURRENT, {"locationId": location})
    if data.get("location") is None:
        raise NotFound(f"Shopify location {location} does not exist")
    current = data.get("currentBulkOperation")
    if isinstance(current, dict) and current.get("status") in UNFINISHED:
        if current.get("status") == "CANCELING" or not _same_query(current.get("query"), query):
            raise TransientError(
                f"another bulk query ({current.get('id')}, {current.get('status')}) is running on the shop, "
                "and Shopify runs one at a time; the stock check is retried later",
                code="OPERATION_IN_PROGRESS",
            )
        op = current
    else:
        payload = client.execute(BULK_RUN, {"query": query}).get("bulkOperationRunQuery") or {}
        errors = payload.get("userErrors") or []
        if errors or not isinstance(payload.get("bulkOperation"), dict):
            codes = sorted({str(e.get("code")) for e in errors if isinstance(e, dict) and e.get("code")})
            message = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or "no operation"
            if "OPERATION_IN_PROGRESS" in codes:  # started by someone else since we looked
                raise TransientError(f"bulkOperationRunQuery: {message}", code="OPERATION_IN_PROGRESS")
            raise RejectedByStore(f"bulkOperationRunQuery refused the stock export: {message}",
                                  code=codes[0] if codes else "bulk_rejected")
        op = payload["bulkOperation"]
    return wait_for(client, op)


def wait_for(client: ShopifyClient, op: dict[str, Any]) -> dict[str, Any]:
    """Poll ``op`` with backoff (``POLL``) until it finishes; COMPLETED or a typed error."""
    waited = 0.0
    pauses = POLL.intervals()
    while op.get("status") in UNFINISHED:
        if waited >= POLL.max_wait:
            raise TransientError(
                f"Shopify bulk operation {op.get('id')} is still {op.get('status')} after {waited:.0f}s; "
                "the next attempt picks it up", code="bulk_still_running")
        pause = next(pauses)
        client_module.SLEEP(pause)
        waited += pause
        node = client.execute(BULK_POLL, {"id": op["id"]}).get("node")
        if not isinstance(node, dict) or "status" not in node:
            raise TransientError(f"Shopify bulk operation {op.get('id')} can no longer be found",
                                 code="bulk_vanished")
        op = node
    if op.get("status") != "COMPLETED":
        raise _failed(op)
    return op


# -------------------------------------------------------------------------------- the file


def _window(http: httpx.Client, cursor: Cursor) -> Iterator[tuple[bytes, bool]]:
    """The bytes of one page window, in pieces, each with whether the file ends after it."""
    headers = {"Range": f"bytes={cursor.offset}-{cursor.offset + PAGE_BYTES - 1}", "Accept-Encoding": "identity"}
    with http.stream("GET", cursor.url, headers=headers) as response:
        if response.status_code == 416:  # the offset is the end of the file
            yield b"", True
            return
        if response.status_code >= 400:
            response.read()
            reason = f"downloading the bulk result answered {response.status_code}: {response.text[:200]}"
            if response.status_code == 429:
                raise RateLimited(reason, retry_after=retry_after_from(response), code="bulk_download")
            raise TransientError(reason, status_code=response.status_code, code="bulk_download")
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
            if match is None or int(match.group(1)) != cursor.offset:
                raise TransientError("the bulk result answered a range it was not asked for", code="bulk_download")
            last, total = int(match.group(2)), int(match.group(3))
            for piece in response.iter_bytes():
                yield piece, False
            yield b"", last + 1 >= total
            return
        # 200: the server ignored Range; skip to the offset and read one window of the stream
        skip, left = cursor.offset, PAGE_BYTES
        for piece in response.iter_bytes():
            if skip:
                cut = min(skip, len(piece))
                piece, skip = piece[cut:], skip - cut
            if piece:
                yield piece[:left], False
                left -= min(left, len(piece))
                if left == 0:
                    return
        yield b"", True


def _parse(raw: bytes, location: str) -> RemoteStock | None:
    """One JSONL line: an inventory level of ``location``, None for other lines; MappingError if bad."""
    if not raw.strip():
        return None
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):
        raise MappingError("a bulk result line is not JSON") from None
    if not isinstance(line, dict):
        raise MappingError("a bulk result line is not an object")
    parent = line.get("__parentId")
    if parent is None:
        return None  # the location's own line
    if parent != location:
        return None  # a level of another location: not this connection's stock
    try:
        return stock_from_level(line)
    except (ValidationError, TypeError, ValueError) as exc:
        raise MappingError(f"a bulk result line cannot be read: {exc}") from None


def read_page(http: httpx.Client, cursor: Cursor) -> tuple[list[RemoteStock], Cursor | None]:
    """The inventory levels in one window of the result file, and where the next window starts.

    A line that cannot be read is skipped and counted (logged), like a level without an item in
    the paged read: one hostile line never fails the night's check.
    """
    items: list[RemoteStock] = []
    bad = 0
    consumed = 0  # bytes of whole lines handled, from cursor.offset
    pending = b""
    skipping = cursor.skipping
    at_end = False
    try:
        for piece, end in _window(http, cursor):
            at_end = end
            pending += piece
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                consumed += len(raw) + 1
                if skipping:  # the tail of an over-long line
                    skipping = False
                    continue
                try:
                    item = _parse(raw, cursor.location)
                except MappingError:
                    bad += 1
                    continue
                if item is not None:
                    items.append(item)
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, write=False, what="Shopify's bulk result") from exc
    if pending and at_end:
        consumed += len(pending)
        if not skipping:
            try:
                item = _parse(pending, cursor.location)
            except MappingError:
                bad += 1
            else:
                if item is not None:
                    items.append(item)
    elif pending and consumed == 0:
        # no line ends in a whole window: a line longer than PAGE_BYTES, skipped to its end
        consumed = len(pending)
        bad += 0 if skipping else 1
        skipping = True
    if not at_end and consumed == 0:
        raise TransientError(f"the bulk result answered no bytes at {cursor.offset}, before its end",
                             code="bulk_download")
    if bad:
        log.warning("Shopify bulk stock result: skipped %d unreadable line(s) at byte %d", bad, cursor.offset)
    if at_end:
        return items, None
    return items, Cursor(cursor.url, cursor.offset + consumed, cursor.location, skipping)
