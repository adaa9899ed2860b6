"""The CLI: the operator's flow, and every user error as one line on stderr with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select

from kade.cli.main import main
from kade.config import Settings
from kade.db import Database
from kade.models import Connection, Order, OrderLine, Shipment
from tests.support.dists import PLATFORM_SOURCE, install_plugin_dist


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Run ``kade`` in-process against a fresh embedded data dir with one test platform."""
    for key in ("KADE_DATABASE_URL", "KADE_SECRET_KEY", "KADE_REDIS_URL", "KADE_LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KADE_DISABLED_PLUGINS", "bol,shopify,woocommerce")
    monkeypatch.setattr("kade.cli.main.out.width", 250, raising=False)
    monkeypatch.setattr("kade.cli.main.err.width", 250, raising=False)
    monkeypatch.chdir(tmp_path)
    install_plugin_dist(tmp_path / "site", monkeypatch, dist="kade-acme", module="kadetest_cli_acme",
                        source=PLATFORM_SOURCE.format(name="acme", marker="ok"))

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        if input is not None:
            monkeypatch.setattr("sys.stdin", __import__("io").StringIO(input))
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _creds(tmp_path: Path, data: object, name: str = "creds.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _ready(cli, tmp_path: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    assert cli("tenant", "add", "shop")[0] == 0


def assert_user_error(result: tuple[int, str, str], fragment: str) -> None:
    code, _, err = result
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("kade: warning")]
    assert len(lines) == 1, err
    assert lines[0].startswith("kade: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in err


def test_unmigrated_database(cli) -> None:
    assert_user_error(cli("tenant", "list"), "run `kade db upgrade`")


def test_unknown_tenant(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert_user_error(cli("connection", "list", "--tenant", "nope"), "unknown tenant 'nope'")


def test_duplicate_tenant_and_bad_tenant_name(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert_user_error(cli("tenant", "add", "shop"), "already exists")
    assert_user_error(cli("tenant", "add", "Bad Name"), "is not valid")


def test_unknown_platform(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    code, _, err = cli("plugins", "enable", "nope", "-t", "shop")
    assert_user_error((code, "", err), "unknown platform 'nope' (installed: ")
    assert "acme" in err


def test_plugin_not_enabled_for_tenant(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    creds = _creds(tmp_path, {"api_key": "k-123456"})
    assert_user_error(
        cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example", "--credentials", creds),
        "'acme' is not enabled for tenant 'shop'",
    )


@pytest.mark.parametrize(
    ("setting", "fragment"),
    [
        ("import_products=maybe", "import_products must be true or false"),
        ("product_match=random", "product_match must be one of sku_first, ean_first"),
        ("order_poll_interval=soon", "order_poll_interval must be a whole number"),
        ("colour=blue", "acme has no setting 'colour'"),
        ("novalue", "expected NAME=VALUE"),
    ],
)
def test_bad_setting_value(cli, tmp_path, setting, fragment) -> None:
    _ready(cli, tmp_path)
    cli("plugins", "enable", "acme", "-t", "shop")
    creds = _creds(tmp_path, {"api_key": "k-123456"})
    assert_user_error(
        cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example", "--credentials", creds,
            "--set", setting),
        fragment,
    )


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "cannot read credentials file"),
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "holds a JSON list; expected one object"),
        ('{"api_key": 5}', "must hold one JSON object of string values"),
        ('{"other": "x"}', "lack: api_key"),
    ],
)
def test_bad_credentials_file(cli, tmp_path, content, fragment) -> None:
    _ready(cli, tmp_path)
    cli("plugins", "enable", "acme", "-t", "shop")
    path = tmp_path / "creds.json"
    if content is not None:
        path.write_text(content)
    assert_user_error(
        cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example", "--credentials",
            str(path)),
        fragment,
    )


def test_bad_url_and_auth_method(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    cli("plugins", "enable", "acme", "-t", "shop")
    creds = _creds(tmp_path, {"api_key": "k-123456"})
    assert_user_error(cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "s.example",
                          "--credentials", creds), "must start with http")
    assert_user_error(cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example",
                          "--credentials", creds, "--auth", "oauth"), "no auth method 'oauth'")


def test_operator_flow_end_to_end(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert cli("plugins", "enable", "acme", "-t", "shop")[0] == 0
    code, out, _ = cli("plugins", "list")
    assert code == 0 and "kadetest_cli_acme" in out and "acme" in out and "shop" in out
    creds = _creds(tmp_path, {"api_key": "supersecret-api-key"})
    code, out, err = cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example",
                         "--credentials", creds)
    assert code == 0, err
    assert "status new" in out
    # R5: stock and shipments stay off until enabled; activation shows the summary first.
    code, out, _ = cli("connection", "activate", "c1", "-t", "shop", input="n\n")
    assert code == 2 and "send_stock" in out and "off" in out
    assert cli("connection", "settings", "c1", "-t", "shop", "send_stock", "on")[0] == 0
    assert_user_error(cli("connection", "settings", "c1", "-t", "shop", "send_stock", "perhaps"),
                      "send_stock must be true or false")
    code, out, _ = cli("connection", "activate", "c1", "-t", "shop", "--yes")
    assert code == 0 and "now active" in out
    code, out, err = cli("connection", "show", "c1", "-t", "shop")
    assert code == 0 and "active" in out and "activated after settings review" in out
    assert "supersecret-api-key" not in out + err
    # warehouse side
    products = tmp_path / "products.csv"
    products.write_text("sku,ean,name,price,stock\nSKU1,8712345678906,Mug,9.95,5\nSKU2,,Plate,3.50,0\n")
    code, out, _ = cli("product", "import", "-t", "shop", str(products))
    assert code == 0 and "2 products created" in out
    assert "Mug" in cli("product", "list", "-t", "shop")[1]
    assert_user_error(cli("product", "import", "-t", "shop"), "give either a product FILE or --connection NAME")
    assert_user_error(cli("product", "import", "-t", "shop", "-c", "c1"), "'acme' does not support read_products")
    assert cli("stock", "set", "SKU1", "7", "-t", "shop")[0] == 0
    assert_user_error(cli("stock", "set", "NOPE", "7", "-t", "shop"), "no product with SKU 'NOPE'")
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,ean,stock\nX1,abc,1\n")
    assert_user_error(cli("product", "import", "-t", "shop", str(bad)), "barcode 'abc' must be digits")
    # an order to ship (imports arrive through the engine; here it is inserted directly)
    db = Database(Settings().resolved_database_url())
    with db.transaction() as session:
        conn = session.exec(select(Connection)).one()
        order = Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="1001")
        session.add(order)
        session.flush()
        session.add(OrderLine(order_id=order.id, remote_line_id="L1", sku="SKU1", quantity=2))
    assert_user_error(cli("ship", "9999", "-t", "shop", "--carrier", "PostNL"), "no order '9999'")
    assert_user_error(cli("ship", "1001", "-t", "shop", "--carrier", "PostNL", "--line", "SKU1:3"),
                      "more than is open")
    code, out, err = cli("ship", "1001", "-t", "shop", "--carrier", "PostNL", "--tracking", "3SABC", "--line",
                         "SKU1:1")
    assert code == 0, err
    with db.session() as session:
        shipment = session.exec(select(Shipment)).one()
        # sending shipments is still off for this connection (R5): recorded, not sent
        assert shipment.status == "skipped"
    db.dispose()


def test_pause_and_unknown_connection(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert_user_error(cli("connection", "pause", "ghost", "-t", "shop"), "no connection named 'ghost'")


def test_actions_health_events_and_orders_commands(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    cli("plugins", "enable", "acme", "-t", "shop")
    creds = _creds(tmp_path, {"api_key": "k-123456"})
    cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example", "--credentials", creds)
    from kade.models import Action, ActionStatus

    db = Database(Settings().resolved_database_url())
    with db.transaction() as session:
        conn = session.exec(select(Connection)).one()
        session.add(Action(tenant_id=conn.tenant_id, connection_id=conn.id, kind="shipment",
                           idempotency_key="shipment:9", status=ActionStatus.FAILED, attempts=8,
                           last_error="TransientError: 503"))
        session.add(Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="1001"))
    code, out, err = cli("health")
    assert code == 1 and "failed actions" in out and "ALERT: 1 action(s) failed" in err
    code, out, _ = cli("actions", "list", "--failed")
    assert code == 0 and "TransientError: 503" in out
    assert_user_error(cli("actions", "retry"), "name action ids or use --all-failed")
    assert_user_error(cli("actions", "retry", "999"), "no action 999")
    code, out, _ = cli("actions", "retry", "--all-failed")
    assert code == 0 and "1 action(s) queued again" in out
    with db.session() as session:
        action = session.exec(select(Action)).one()
        assert (action.status, action.attempts) == ("pending", 0)
    assert cli("health")[0] == 0
    code, out, _ = cli("events", "-t", "shop", "--kind", "connection_added")
    assert code == 0 and "c1 (acme) added" in out
    assert_user_error(cli("events", "-c", "c1"), "--connection needs --tenant")
    code, out, _ = cli("orders", "list", "-t", "shop", "--open")
    assert code == 0 and "1001" in out
    code, out, _ = cli("orders", "cancel", "1001", "-t", "shop")
    assert code == 0 and "cancelled" in out
    assert_user_error(cli("orders", "cancel", "1001", "-t", "shop"), "already cancelled")
    db.dispose()


def test_version_and_usage_errors_are_not_tracebacks(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.startswith("kade ")
    for args, fragment in ((["nonsense"], "No such command 'nonsense'"),
                           (["tenant", "add"], "Missing argument"),
                           (["stock", "set", "SKU", "many", "-t", "x"], "Invalid value for 'quantity'"),
                           ([], "Usage:")):
        code, out, err = cli(*args)
        assert code == 2, (args, out, err)
        assert fragment in out + err, (args, out, err)
        assert "Traceback" not in out + err


def test_recover_dry_run_shows_the_plan_and_bad_times_are_one_line(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert cli("plugins", "enable", "acme", "--tenant", "shop")[0] == 0
    assert cli("connection", "add", "acme", "main", "--tenant", "shop", "--url", "https://acme.example",
               "--credentials", _creds(tmp_path, {"api_key": "k-123456"}))[0] == 0
    code, out, _ = cli("recover", "--since", "2026-01-01T00:00:00Z", "--dry-run")
    assert code == 0
    assert "main" in out and "dry run" in out
    assert_user_error(cli("recover", "--since", "yesterday"), "ISO 8601")
    assert_user_error(cli("recover", "--since", "2026-01-01T00:00:00"), "time zone")
    assert_user_error(cli("recover", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"),
                      "before")


def test_recover_and_webhook_deliveries_print_json(cli, tmp_path) -> None:
    _ready(cli, tmp_path)
    assert cli("plugins", "enable", "acme", "--tenant", "shop")[0] == 0
    assert cli("connection", "add", "acme", "main", "--tenant", "shop", "--url", "https://acme.example",
               "--credentials", _creds(tmp_path, {"api_key": "k-123456"}))[0] == 0
    code, out, _ = cli("recover", "--since", "2026-01-01T00:00:00Z", "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["dry_run"] is True and plan["totals"] == {}
    assert [(c["name"], c["platform"], c["status"]) for c in plan["connections"]] == [("main", "acme", "new")]
    code, out, _ = cli("recover", "--since", "2026-01-01T00:00:00Z", "--json")  # run: a connection not active
    assert code == 0
    assert json.loads(out)["result"] == {"imports_requested": 0, "retried": 0, "superseded": 0, "rescheduled": 0}
    code, out, _ = cli("recover", "--since", "2026-01-01T00:00:00Z")
    assert code == 0 and "0 waiting action(s) due now" in out
    code, out, _ = cli("webhook", "deliveries", "--tenant", "shop", "--json")
    assert code == 0 and json.loads(out) == {"deliveries": []}
