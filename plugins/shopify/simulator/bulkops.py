"""Bulk query operations: one at a time per app, CREATED → RUNNING → COMPLETED, a JSONL result.

What Shopify documents for 2025-01 (platform notes §2.8): ``bulkOperationRunQuery`` answers
``OPERATION_IN_PROGRESS`` while the app's previous query operation runs; the operation is polled
with ``currentBulkOperation`` or ``node(id:)``; a completed operation with results has a ``url``
to a JSONL file (signed, valid seven days), one without results has ``url: null``. The file is
written when the operation completes, to a temporary file read back by byte range, so a
million lines never sit in memory (a synthetic catalogue is generated line by line).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from kade.plugins.shopify.simulator.faults import FaultState
from kade.plugins.shopify.simulator.models import gid, iso
from kade.sim.base import ScriptedFault

if TYPE_CHECKING:
    from kade.plugins.shopify.simulator.synthetic import SyntheticCatalog

#: how long a result URL stays valid after completion (Shopify: seven days)
RESULT_LIFETIME = 7 * 86_400
#: where the simulator serves result files (Shopify's are on storage.googleapis.com)
RESULT_PATH = "/_sim/bulk-results"
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})


@dataclass
class BulkOperation:
    """One bulk operation; ``lines`` produces its JSONL lines when it completes."""

    number: int
    app: str
    query: str
    created_at: float
    lines: Callable[[], Iterable[str]]
    status: str = "CREATED"
    polls: int = 0
    error_code: str | None = None
    completed_at: float | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int = 0
    file: IO[bytes] | None = field(default=None, repr=False)
    #: set by ``fail_next_bulk_operation``: the status and errorCode it ends with instead
    outcome: tuple[str, str | None] | None = None
    #: why the simulator failed an export itself (a test reads it; Shopify shows only errorCode)
    failure: str | None = None
    #: set when the result file is written in the background (``bulk_background``)
    written: threading.Event | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return gid("BulkOperation", self.number)


class BulkState(FaultState):
    """The app's bulk query operations and their result files."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bulk_operations: dict[int, BulkOperation] = {}
        #: an operation completes once it was polled this many times ...
        self.bulk_polls: int | None = 2
        #: ... or once this many seconds passed on the shop's clock (None: polls only)
        self.bulk_seconds: float | None = None
        #: write result files in a thread while RUNNING, as Shopify does (the benchmark's
        #: million lines); tests keep the default, writing at completion, for determinism
        self.bulk_background = False
        self._bulk_outcomes: list[tuple[str, str | None]] = []
        #: the scheme and host result URLs are served from (set per request by the app)
        self.download_base = f"https://{self.shop_domain}"
        self._url_key = hashlib.sha256(f"bulk-url-{self.rng.random()}".encode()).digest()
        #: a computed catalogue for benchmarks (``use_synthetic_catalog``); bulk exports only
        self.synthetic: SyntheticCatalog | None = None

    def use_synthetic_catalog(self, count: int, *, drift_every: int = 100) -> SyntheticCatalog:
        """Serve ``count`` computed variants at the primary location (benchmarks; see ``synthetic``)."""
        from kade.plugins.shopify.simulator.synthetic import SyntheticCatalog  # it imports this module

        with self.lock:
            if self.variants:
                raise ValueError("a synthetic catalogue replaces the catalogue: seed no products with it")
            self.synthetic = SyntheticCatalog(count, drift_every)
            return self.synthetic

    # ------------------------------------------------------------------ controls

    def fail_next_bulk_operation(
        self, status: str = "FAILED", error_code: str | None = "INTERNAL_SERVER_ERROR"
    ) -> None:
        """The next operation to start ends ``status`` (FAILED, CANCELED, EXPIRED) with ``error_code``."""
        with self.lock:
            self._bulk_outcomes.append((status, error_code))

    def inject_download_fault(self, kind: str, *, status: int = 503, times: int = 1) -> ScriptedFault:
        """Fail the next ``times`` result downloads (fault layer kinds: ``error``, ``timeout``...)."""
        return self.scripted_faults.add(ScriptedFault(kind, RESULT_PATH + "/", "GET", status=status, count=times))

    # ------------------------------------------------------------------ lifecycle

    def current_bulk_operation(self, app: str) -> BulkOperation | None:
        with self.lock:
            mine = [op for op in self.bulk_operations.values() if op.app == app]
            return max(mine, key=lambda op: op.number) if mine else None

    def running_bulk_operation(self, app: str) -> BulkOperation | None:
        current = self.current_bulk_operation(app)
        return current if current is not None and current.status not in TERMINAL else None

    def start_bulk_operation(self, app: str, query: str, lines: Callable[[], Iterable[str]]) -> BulkOperation:
        with self.lock:
            op = BulkOperation(self.next_id("BulkOperation"), app, query, self.clock.now(), lines)
            if self._bulk_outcomes:
                op.outcome = self._bulk_outcomes.pop(0)
            self.bulk_operations[op.number] = op
            if self.bulk_background and op.outcome is None:
                op.written = threading.Event()
                threading.Thread(target=self._write_in_background, args=(op,), daemon=True,
                                 name=f"bulk-{op.number}").start()
            return op

    def _write_in_background(self, op: BulkOperation) -> None:
        try:
            self._write(op)
        except Exception as exc:  # reported as Shopify reports it: FAILED
            op.failure = f"{type(exc).__name__}: {exc}"
        finally:
            assert op.written is not None
            op.written.set()

    def cancel_bulk_operation(self, op: BulkOperation) -> None:
        with self.lock:
            if op.status not in TERMINAL:
                op.status = "CANCELING"

    def poll_bulk_operation(self, op: BulkOperation) -> BulkOperation:
        """One look at the operation: it moves on by polls or by the clock, as configured."""
        with self.lock:
            if op.status in TERMINAL:
                return op
            op.polls += 1
            if op.status == "CANCELING":
                self._finish(op, "CANCELED", None)
                return op
            op.status = "RUNNING"
            by_polls = self.bulk_polls is not None and op.polls >= self.bulk_polls
            by_clock = self.bulk_seconds is not None and self.clock.now() >= op.created_at + self.bulk_seconds
            if by_polls or by_clock:
                if op.outcome is not None:
                    self._finish(op, *op.outcome)
                elif op.written is not None:
                    if op.written.is_set() and op.failure is not None:
                        self._finish(op, "FAILED", "INTERNAL_SERVER_ERROR")
                    elif op.written.is_set():
                        self._finish(op, "COMPLETED", None)
                else:
                    try:
                        self._write(op)
                    except Exception as exc:  # what Shopify reports when its export breaks
                        op.failure = f"{type(exc).__name__}: {exc}"
                        self._finish(op, "FAILED", "INTERNAL_SERVER_ERROR")
                    else:
                        self._finish(op, "COMPLETED", None)
            return op

    def _finish(self, op: BulkOperation, status: str, error_code: str | None) -> None:
        op.status, op.error_code, op.completed_at = status, error_code, self.clock.now()

    def _write(self, op: BulkOperation) -> None:
        """Write the JSONL result line by line to a temporary file (never all in memory)."""
        out = tempfile.TemporaryFile(prefix="kade-sim-bulk-")  # noqa: SIM115 (kept open: served by range)
        roots = count = 0
        for line in op.lines():
            # surrogateescape: a test can put bytes that are no UTF-8 into a line as they are
            out.write(line.encode("utf-8", "surrogateescape") + b"\n")
            count += 1
            if '"__parentId"' not in line:
                roots += 1
        out.flush()
        op.file, op.object_count, op.root_object_count, op.file_size = out, count, roots, out.tell()

    # ------------------------------------------------------------------ results

    def _signature(self, op: BulkOperation, expires: int) -> str:
        return hmac.new(self._url_key, f"{op.number}:{expires}".encode(), hashlib.sha256).hexdigest()

    def result_url(self, op: BulkOperation) -> str | None:
        if op.status != "COMPLETED" or op.object_count == 0 or op.completed_at is None:
            return None
        expires = int(op.completed_at + RESULT_LIFETIME)
        return (f"{self.download_base}{RESULT_PATH}/{op.number}.jsonl"
                f"?Expires={expires}&Signature={self._signature(op, expires)}")

    def result_file(self, number: int, expires: str, signature: str) -> BulkOperation | str:
        """The operation whose result a signed URL names, or why the URL is refused."""
        op = self.bulk_operations.get(number)
        if op is None or op.file is None or not expires.isdigit():
            return "NoSuchKey"
        if not hmac.compare_digest(self._signature(op, int(expires)), signature):
            return "SignatureDoesNotMatch"
        if int(expires) <= self.clock.now():
            return "ExpiredToken"
        return op

    def read_result(self, op: BulkOperation, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive) of the result file, in 64 KiB pieces."""
        assert op.file is not None
        fd = op.file.fileno()
        while start <= end:
            piece = os.pread(fd, min(65_536, end - start + 1), start)
            if not piece:
                return
            start += len(piece)
            yield piece

    def bulk_view(self, op: BulkOperation) -> dict[str, Any]:
        return {
            "__typename": "BulkOperation",
            "id": op.id,
            "status": op.status,
            "errorCode": op.error_code,
            "type": "QUERY",
            "query": op.query,
            "createdAt": iso(int(op.created_at)),
            "completedAt": iso(int(op.completed_at)) if op.completed_at is not None else None,
            "objectCount": str(op.object_count),
            "rootObjectCount": str(op.root_object_count),
            "fileSize": str(op.file_size) if op.file is not None and op.object_count else None,
            "url": self.result_url(op),
            "partialDataUrl": None,
        }


def jsonl(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))
