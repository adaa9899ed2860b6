"""Count the SQL statements and commits a Kade process sends, for ``bench_scale.py``.

Why: PostgreSQL here has no ``pg_stat_statements`` preloaded, and ``pg_stat_database`` counts
transactions, not statements. A SQLAlchemy event listener on every engine counts exactly what the
process sends, costs a dict increment per statement, and needs no change to Kade: the benchmark's
plugin distribution imports this module in the scheduler and worker processes.

Each process writes ``<pid>.json`` into ``KADE_BENCH_COUNT_DIR`` twice a second (and again in a
forked child, which starts with a fresh count), so the benchmark reads deltas without talking to
the processes.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

_KIND = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM)\s", re.IGNORECASE)
_FROM = re.compile(r"\sFROM\s+(\w+)", re.IGNORECASE)
_TABLE = re.compile(r"^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", re.IGNORECASE)

_counts: Counter[str] = Counter()
_lock = threading.Lock()
_started = False


def statement_key(statement: str) -> str:
    """``SELECT connections``, ``UPDATE connection_runtime``, ``SAVEPOINT``...: kind and first table."""
    kind = _KIND.match(statement)
    if kind is None:
        return statement.split(None, 1)[0].upper() if statement.strip() else "?"
    verb = kind.group(1).split()[0].upper()
    table = _FROM.search(statement) if verb == "SELECT" else _TABLE.match(statement)
    return f"{verb} {table.group(1) if table else '?'}"


def _on_execute(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    key = statement_key(statement)
    with _lock:
        _counts["statements"] += 1
        _counts[key] += 1


def _on_commit(conn: Any) -> None:
    with _lock:
        _counts["commits"] += 1


def _write(directory: Path) -> None:
    with _lock:
        snapshot = dict(_counts)
    path = directory / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot))
    tmp.replace(path)


def _writer(directory: Path) -> None:
    pid = os.getpid()
    while os.getpid() == pid:
        _write(directory)
        time.sleep(0.5)


def _start(directory: Path) -> None:
    threading.Thread(target=_writer, args=(directory,), daemon=True, name="stmtcount").start()


def _after_fork(directory: Path) -> None:
    global _lock
    _lock = threading.Lock()
    _counts.clear()
    _start(directory)


def install() -> None:
    """Start counting in this process (and in any child it forks) when the benchmark asks for it."""
    global _started
    directory = os.environ.get("KADE_BENCH_COUNT_DIR")
    if not directory or _started:
        return
    _started = True
    path = Path(directory)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _on_execute)
    sa.event.listen(sa.engine.Engine, "commit", _on_commit)
    os.register_at_fork(after_in_child=lambda: _after_fork(path))
    _start(path)


def read_counts(directory: Path) -> dict[int, Counter[str]]:
    """The latest counts of every process that wrote some, by pid."""
    out: dict[int, Counter[str]] = {}
    for path in directory.glob("*.json"):
        try:
            out[int(path.stem)] = Counter(json.loads(path.read_text()))
        except (ValueError, OSError):
            continue
    return out
