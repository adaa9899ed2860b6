"""Reading bol's offer export page by page in bounded memory.

v10 has no "list offers" call: the only way to learn offer ids, references and stock is the CSV
export (request it, wait for the process, download it). Bol allows about nine exports an hour, so
the download is streamed once to a local file and pages are read from it by byte offset; the page
token carries the report id and the offset, so any worker can continue (one that lacks the file
downloads it again). A recent export is reused for a while, so a catalogue read followed by a
stock read costs one export, not two.
"""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import structlog

from kade.errors import NotFound, RejectedByStore, TransientError
from kade.plugins.bol.client import BolClient, process_id
from kade.plugins.bol.protocol import CSV_TYPE

log = structlog.get_logger("kade.plugins.bol")

_STALE_SECONDS = 86_400.0


def export_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "kade-bol-exports"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _report_file(client: BolClient, report_id: str) -> Path:
    digest = hashlib.sha256(report_id.encode()).hexdigest()[:24]
    return export_dir() / f"{client.ctx.connection_id}-{digest}.csv"


def _cache_key(client: BolClient) -> str:
    return f"bol:{client.ctx.connection_id}:offer-export"


def _remove_stale_files() -> None:
    """Drop exports left behind by reads that never reached their last page."""
    cutoff = time.time() - _STALE_SECONDS
    for path in export_dir().glob("*.csv*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
        except OSError:
            continue


def _start(client: BolClient, *, reuse: bool = True) -> str:
    if reuse and client.settings.offer_export_reuse_seconds > 0:
        recent = client.ctx.tokens.get(_cache_key(client))
        if recent:
            return f"x:{recent}:0"
    process = client.send_json("POST", "/retailer/offers/export", {"format": "CSV"})
    _remove_stale_files()
    return f"p:{process_id(process)}"


def read_page(client: BolClient, token: str | None, *, reuse: bool = True) -> tuple[list[dict[str, str]], str | None]:
    """One page of export rows (column name → value) and the next page token.

    A page may be empty with a token when the export is still being made; the caller simply
    asks again with that token. ``reuse=False`` always starts a fresh export (the nightly stock
    check: an export from before the latest pushes would report drift that is not there).
    """
    token = token or _start(client, reuse=reuse)
    kind, _, rest = token.partition(":")
    if kind == "p":
        process = client.wait_for_process(client.process_status(rest), client.settings.process_wait_seconds)
        status = process.get("status")
        if status == "PENDING":
            return [], token
        if status == "TIMEOUT":
            raise TransientError(f"bol timed out making the offer export (process {rest})")
        if status != "SUCCESS" or not process.get("entityId"):
            raise RejectedByStore(
                f"bol could not make the offer export: {process.get('errorMessage') or status}",
                code="export_failed",
            )
        report_id = str(process["entityId"])
        if client.settings.offer_export_reuse_seconds > 0:
            client.ctx.tokens.set(_cache_key(client), report_id, client.settings.offer_export_reuse_seconds)
        kind, rest = "x", f"{report_id}:0"
    if kind != "x" or ":" not in rest:
        raise ValueError(f"not a bol offer export page token: {token!r}")
    report_id, _, offset_raw = rest.rpartition(":")
    offset = int(offset_raw)
    path = _report_file(client, report_id)
    if not path.exists():
        try:
            client.download(f"/retailer/offers/export/{report_id}", path, CSV_TYPE)
        except NotFound:
            if offset:
                raise
            # a reused report bol no longer keeps: make a fresh export
            client.ctx.tokens.delete(_cache_key(client))
            return [], _start(client, reuse=False)
    rows, next_offset = read_rows(path, offset, client.settings.export_page_size)
    if next_offset is None:
        path.unlink(missing_ok=True)
        return rows, None
    return rows, f"x:{report_id}:{next_offset}"


def _record(handle: BinaryIO) -> bytes | None:
    """One CSV record: a line, plus the following ones while a quoted field is still open."""
    line = handle.readline()
    if not line:
        return None
    while line.count(b'"') % 2:
        more = handle.readline()
        if not more:
            break
        line += more
    return line


def read_rows(path: Path, offset: int, limit: int) -> tuple[list[dict[str, str]], int | None]:
    """Up to ``limit`` records from byte ``offset`` (0: just after the header) and where the next begin."""
    with path.open("rb") as handle:
        header_line = _record(handle)
        if header_line is None:
            return [], None
        header = next(csv.reader(io.StringIO(header_line.decode("utf-8-sig"), newline="")), [])
        if offset:
            handle.seek(offset)
        rows: list[dict[str, str]] = []
        while len(rows) < limit:
            record = _record(handle)
            if record is None:
                return rows, None
            if not record.strip():
                continue
            values = next(csv.reader(io.StringIO(record.decode("utf-8"), newline="")), [])
            rows.append(dict(zip(header, values, strict=False)))
        position = handle.tell()
        return rows, (position if handle.read(1) else None)
