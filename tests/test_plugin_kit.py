"""The kit proves itself: the plugin ``kade plugin new`` writes passes it, broken copies fail it.

The generated plugin is the small reference plugin (simulator + harness included). It is
built and installed into a private directory (never into this environment: its entry point
would join every other test's plugin manager), then the kit runs in a subprocess. Each broken
variant patches one thing a real plugin gets wrong and must fail exactly the scenarios that
look at it — while a scenario it does not touch still passes, so the failure is that flaw and
not a broken copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from kade.errors import UserError
from kade.scaffold import new_plugin

NAME = "refshop"
PKG = f"kade_{NAME}"
CONTROL = "test_full_shipment_reaches_the_store_once_with_tracking"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated package, installed (built as a wheel by pip) into a directory of its own."""
    root = tmp_path_factory.mktemp("plugin")
    source = root / "src"
    new_plugin(NAME, source)
    site = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    assert (site / PKG / "plugin.py").exists()
    assert any(p.name.endswith(".dist-info") for p in site.iterdir()), "pip must have installed the entry point"
    shutil.copytree(source / "tests", site.parent / "tests")
    return site


def run_kit(site: Path, tests: Path, *, select: list[str] | None = None) -> dict[str, str]:
    """Run the generated conformance test; return scenario → passed/failed/error/skipped."""
    report = site.parent / f"report-{site.name}.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests), f"--junitxml={report}",
               "-o", "addopts=", "--rootdir", str(tests)]
    if select:
        command += ["-k", " or ".join(select)]
    env = dict(os.environ, PYTHONPATH=str(site))
    subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tests)
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.attrib["name"]
        kinds = {child.tag for child in case}
        outcomes[name] = ("failed" if "failure" in kinds else "error" if "error" in kinds
                          else "skipped" if "skipped" in kinds else "passed")
    return outcomes


def test_the_generated_plugin_passes_the_kit(built: Path) -> None:
    outcomes = run_kit(built, built.parent / "tests")
    assert len(outcomes) >= 20
    skipped = {name for name, outcome in outcomes.items() if outcome == "skipped"}
    assert skipped == {"test_migration_keeps_the_connection_working"}
    assert {name for name, outcome in outcomes.items() if outcome not in ("passed", "skipped")} == set()


@dataclass(frozen=True)
class Broken:
    """One deliberate flaw: ``old`` → ``new`` in one module, and the scenarios it must fail."""

    module: str
    old: str
    new: str
    fails: frozenset[str]
    #: further (old, new) replacements in the same module
    more: tuple[tuple[str, str], ...] = ()


VARIANTS = {
    "simulator-ignores-faults": Broken(
        "simulator", "return FaultLayer(app, state, error=_error_answer, rate_limited=_rate_limited_answer)",
        "return app",
        frozenset({"test_unknown_outcome_is_checked_not_duplicated",
                   "test_write_timeout_before_the_store_applied_it_is_sent_again",
                   "test_rate_limit_is_respected_and_the_import_completes",
                   "test_read_timeout_is_retried_and_the_import_completes"})),
    "harness-control-arms-nothing": Broken(
        "harness",
        '        self.sim.scripted_faults.add(ScriptedFault("timeout_after_apply", SHIPMENTS, method="POST"))',
        "        return None",
        frozenset({"test_unknown_outcome_is_checked_not_duplicated"})),
    "no-check-shipment": Broken(
        "plugin", "@hookimpl\ndef check_shipment", "def check_shipment",
        frozenset({"test_unknown_outcome_is_checked_not_duplicated", CONTROL})),
    "store-error-code-dropped": Broken(
        "client", 'ERRORS = ErrorMap(platform="Acme", overrides={(409, "order_cancelled"): _refused_cancelled})'
        .replace("Acme", "Refshop"),
        'ERRORS = ErrorMap(platform="Refshop", details=lambda r: (None, r.text))',
        frozenset({"test_shipment_for_an_order_the_store_cancelled_raises_stop_the_parcel"})),
    "warehouse-cancel-never-tells-the-store": Broken(
        "plugin", 'body = AcmeClient(ctx).request("POST", f"/api/orders/{request.order_remote_id}/cancel",'
        .replace("Acme", "Refshop"),
        'body = dict(id=request.order_remote_id) or RefshopClient(ctx).request("POST", "/never",',  # never called
        frozenset({"test_warehouse_cancel_reaches_the_store"})),
    "token-not-renewed": Broken(
        "client", "if attempt == 2 or exc.code not in STALE_TOKEN:", "if True:",
        frozenset({"test_expired_access_token_is_renewed_not_needs_reauth"})),
    "read-stock-reads-nothing": Broken(
        "plugin", 'body = AcmeClient(ctx).get("/api/stock", page=page_token or 1)'.replace("Acme", "Refshop"),
        'body = {"stock": []}',
        frozenset({"test_nightly_check_reads_the_store_and_corrects_drift"})),
    "webhook-signature-not-checked": Broken(
        "plugin", "    if not hmac.compare_digest(signature, expected):", "    if False:",
        frozenset({"test_webhooks_are_verified_deduplicated_and_tamper_proof"})),
    "store-shipped-order-reported-open": Broken(
        "mapping", '"shipped": OrderStatus.SHIPPED', '"shipped": OrderStatus.OPEN',
        frozenset({"test_order_already_shipped_in_the_store_is_not_warehouse_work"}),
        more=(('quantity_shipped=int(line.get("shipped", 0))', "quantity_shipped=0"),)),
    "bad-record-fails-the-page": Broken(
        "mapping", "except (MappingError, ValueError) as exc:", "except KeyError as exc:",
        frozenset({"test_malformed_record_is_quarantined_and_its_page_imports"})),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_broken_plugin_fails_the_kit(built: Path, tmp_path: Path, variant: str) -> None:
    broken = VARIANTS[variant]
    site = tmp_path / variant
    shutil.copytree(built, site)
    module = site / PKG / f"{broken.module}.py"
    text = module.read_text()
    for old, new in ((broken.old, broken.new), *broken.more):
        assert text.count(old) == 1, f"the reference plugin changed: {old!r} not found once in {module.name}"
        text = text.replace(old, new)
    module.write_text(text)
    outcomes = run_kit(site, built.parent / "tests", select=sorted(broken.fails | {CONTROL}))
    failed = {name for name, outcome in outcomes.items() if outcome in ("failed", "error")}
    assert failed == broken.fails, f"{variant}: {outcomes}"


def test_plugin_new_refuses_bad_names_taken_names_and_full_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not valid"):
        new_plugin("9lives", tmp_path / "a")
    with pytest.raises(UserError, match="already installed"):
        new_plugin("bol", tmp_path / "b", taken={"bol"})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        new_plugin("fine", tmp_path / "c")
    written = new_plugin("my-shop", tmp_path / "d")
    assert all("acme" not in p.read_text().lower() for p in written), "every trace of the template name is replaced"
    assert (tmp_path / "d" / "kade_my_shop" / "harness.py").read_text().count("class MyShopHarness(Harness)") == 1


def test_the_generated_plugin_is_lint_and_strict_type_clean(tmp_path: Path) -> None:
    """What an author starts from passes ruff and ``mypy --strict`` under its own pyproject."""
    root = Path(__file__).resolve().parents[1]
    typing_tree = root / ".typing"
    if not (typing_tree / "kade").exists():
        pytest.skip("run ./scripts/typecheck first: it lays out .typing/kade for mypy")
    new_plugin("lintshop", tmp_path)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=tmp_path, capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    mypy = subprocess.run([sys.executable, "-m", "mypy", "kade_lintshop", "tests"], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(os.environ, MYPYPATH=str(typing_tree)))
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr
