"""Keeping to CCV Shop's per-minute limits, shared by every worker of a connection.

CCV limits requests per minute twice: per resource and method (refused with ``429.10``) and in
total (``429.11``). The numbers are not published, so they are settings. Before each request the
pacer takes a slot from both sliding 60-second windows, kept in the connection's shared token
store under a lock; with a window full it raises ``RateLimited`` with the wait until its oldest
request leaves it, and the core waits (an import re-reads its page, a write is rescheduled). A
429 from the shop (another client of the same keys spent the budget) marks the refused window as
full until the shop's wait ends, so no worker sends into it meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from kade.errors import RateLimited
from kade.types import TokenStore

WINDOW = 60.0
#: a request counts this much longer than the shop's minute: the shop stamps it on arrival, a
#: little after Kade did, so a window Kade sees free at its edge may not yet be free there
MARGIN = 1.0
#: codes of the two refusals
PER_METHOD, TOTAL = "429.10", "429.11"


class Pacer:
    def __init__(self, tokens: TokenStore, scope: str, now: Callable[[], float], *, total: int,
                 per_method: int) -> None:
        self.tokens = tokens
        self.scope = scope
        self.now = now
        self.total = total
        self.per_method = per_method

    def _key(self, bucket: str) -> str:
        return f"ccv:pace:{self.scope}:{bucket}"

    def _load(self, key: str, now: float) -> tuple[list[float], float]:
        raw = self.tokens.get(key)
        try:
            data = json.loads(raw) if raw else {}
            hits = [float(t) for t in data.get("h", []) if now - float(t) < WINDOW + MARGIN]
            blocked = float(data.get("b", 0.0))
        except (ValueError, TypeError, AttributeError):
            hits, blocked = [], 0.0
        return hits, blocked

    def _store(self, key: str, hits: list[float], blocked: float) -> None:
        self.tokens.set(key, json.dumps({"h": hits, "b": blocked}), WINDOW * 2 + MARGIN)

    def acquire(self, resource: str, method: str) -> None:
        """Take a slot in both windows or raise ``RateLimited`` with the wait."""
        buckets = (("total", self.total), (f"{resource}:{method.upper()}", self.per_method))
        with self.tokens.lock(self._key("lock"), timeout=10.0):
            now = self.now()
            loaded = []
            for bucket, limit in buckets:
                key = self._key(bucket)
                hits, blocked = self._load(key, now)
                if blocked > now:
                    raise RateLimited(f"CCV Shop's per-minute limit for {bucket} is spent (the shop said so)",
                                      retry_after=blocked - now, status_code=429)
                if len(hits) >= limit:
                    wait = min(hits) + WINDOW + MARGIN - now
                    raise RateLimited(f"CCV Shop allows {limit} requests a minute for {bucket}; waiting for a slot",
                                      retry_after=max(0.01, wait), status_code=429)
                loaded.append((key, hits, blocked))
            for key, hits, blocked in loaded:
                self._store(key, [*hits, now], blocked)

    def refused(self, resource: str, method: str, code: str | None, wait: float) -> None:
        """The shop refused with ``code``: its window stays closed for ``wait`` seconds."""
        bucket = f"{resource}:{method.upper()}" if code == PER_METHOD else "total"
        with self.tokens.lock(self._key("lock"), timeout=10.0):
            now = self.now()
            key = self._key(bucket)
            hits, blocked = self._load(key, now)
            self._store(key, hits, max(blocked, now + wait))
