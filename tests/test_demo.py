"""The README's main job: ``kade demo`` runs on the embedded default and ends with a full summary."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kade.config import Settings
from kade.demo import run_demo


def test_demo_runs_end_to_end_with_a_non_empty_summary(tmp_path: Path) -> None:
    console = Console(record=True, width=160)
    summary = run_demo(Settings(data_dir=tmp_path, _env_file=None), console, orders=8)
    assert "bol" in summary.platforms
    assert "ccv" in summary.platforms
    assert summary.orders_imported >= 8 * len(summary.platforms)
    assert summary.stock_pushed > 0
    assert summary.shipments_confirmed > 0
    # one order per store is cancelled store-side before shipping: R4 notifications
    assert summary.notifications >= len(summary.platforms)
    text = console.export_text()
    assert "5. Summary" in text and "stop the parcel" in text
