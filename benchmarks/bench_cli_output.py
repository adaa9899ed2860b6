"""How long the CLI takes to print one long value (a setting, a message) as a line and in a table.

Rich wraps an unbreakable word in time quadratic in its length when it prints with its default
wrapping; the CLI prints data lines with soft wrapping and table cells as plain Text. Run:
``python benchmarks/bench_cli_output.py``.
"""

from __future__ import annotations

import io
import time

from rich.console import Console

from kade.cli import common


def main() -> None:
    for n in (10_000, 100_000, 1_000_000):
        value = "v" * n
        common.out = Console(file=io.StringIO(), width=80)
        start = time.perf_counter()
        common.say(f"setting = {value}")
        line = time.perf_counter() - start
        t = common.table("Settings", "setting", "value")
        common.row(t, "setting", value)
        start = time.perf_counter()
        common.out.print(t)
        cell = time.perf_counter() - start
        print(f"{n:>9} characters: line {line * 1000:8.1f} ms, table cell {cell * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
