"""Every bad input a careless operator can give: one line on stderr, exit code 2, no traceback.

One table; a new command joins it with its own ugly cases. Each case runs against the same
prepared data dir (tenant ``shop``, platform ``acme`` enabled, connection ``c1``, product ``SKU1``,
an order ``1001``), copied fresh per case so that no case sees another's effects.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlmodel import select

from kade.config import Settings
from kade.db import Database
from kade.models import Connection, Order, OrderLine
from tests.test_cli import assert_user_error, cli  # noqa: F401 - the fixture

DEEP = "[" * 100_000 + "]" * 100_000
GOOD_CREDS = json.dumps({"api_key": "k-123456"}).encode()


@dataclass(frozen=True)
class Bad:
    args: tuple[str, ...]
    fragment: str
    #: files written into the case's directory before running: name → bytes
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def add(*extra: str, url: str = "https://s.example", name: str = "c2", creds: str = "creds.json") -> tuple[str, ...]:
    return ("connection", "add", "acme", name, "-t", "shop", "--url", url, "--credentials", creds, *extra)


def products(body: bytes) -> dict[str, bytes]:
    return {"p.csv": body}


CSV = "sku,ean,name,price,stock\n"
CASES: dict[str, Bad] = {
    # credentials files
    "creds latin-1": Bad(add(), "is not UTF-8 text", {"creds.json": '{"api_key": "café"}'.encode("latin-1")}),
    "creds UTF-16": Bad(add(), "is UTF-16; save it as UTF-8", {"creds.json": '{"api_key": "k"}'.encode("utf-16")}),
    "creds list": Bad(add(), "holds a JSON list; expected one object", {"creds.json": b"[1, 2]"}),
    "creds 100,000 deep": Bad(add(), "nested more than 100 levels deep", {"creds.json": DEEP.encode()}),
    "creds NaN": Bad(add(), "NaN is not a JSON number", {"creds.json": b'{"api_key": NaN}'}),
    # names
    "tenant slug 201 chars": Bad(("tenant", "add", "a" * 201), "1 to 63 lowercase letters"),
    "tenant display name 201 chars": Bad(("tenant", "add", "other", "--name", "n" * 201),
                                         "201 characters long; at most 200"),
    "tenant slug with newline": Bad(("tenant", "add", "shop2\n"), "is not valid"),
    "tenant display name with newline": Bad(("tenant", "add", "other", "--name", "a\nb"), "control character"),
    "empty connection name": Bad(add(name=""), "connection name is empty", {"creds.json": GOOD_CREDS}),
    "blank connection name": Bad(add(name="  "), "connection name is empty", {"creds.json": GOOD_CREDS}),
    "connection name 101 chars": Bad(add(name="c" * 101), "at most 100", {"creds.json": GOOD_CREDS}),
    # URLs that would fail later
    "url [::1": Bad(add(url="http://[::1"), "is not a valid URL", {"creds.json": GOOD_CREDS}),
    "url http://": Bad(add(url="http://"), "has no host name", {"creds.json": GOOD_CREDS}),
    "url with space": Bad(add(url="https://exa mple.com"), "contains a space", {"creds.json": GOOD_CREDS}),
    "url bad port": Bad(add(url="https://shop.example:99999"), "is not a valid URL", {"creds.json": GOOD_CREDS}),
    "url no scheme": Bad(add(url="shop.example"), "must start with http", {"creds.json": GOOD_CREDS}),
    # settings of a connection
    "negative poll interval": Bad(add("--set", "order_poll_interval=-5"), "at least 10",
                                  {"creds.json": GOOD_CREDS}),
    "poll interval 10^20": Bad(add("--set", "order_poll_interval=100000000000000000000"), "whole number",
                               {"creds.json": GOOD_CREDS}),
    "setting twice": Bad(add("--set", "import_products=on", "--set", "import_products=off"), "given twice",
                         {"creds.json": GOOD_CREDS}),
    "setting change negative interval": Bad(("connection", "settings", "c1", "-t", "shop", "order_poll_interval",
                                             "5"), "at least 10"),
    # numbers past the database's integer
    "stock set 2147483648": Bad(("stock", "set", "SKU1", "2147483648", "-t", "shop"), "2147483647"),
    "stock set 10^20": Bad(("stock", "set", "SKU1", "100000000000000000000", "-t", "shop"), "quantity"),
    "stock set negative": Bad(("stock", "set", "-t", "shop", "--", "SKU1", "-1"), "quantity"),
    "actions retry 2147483648": Bad(("actions", "retry", "2147483648"), "2147483647"),
    "events limit 10^20": Bad(("events", "--limit", "100000000000000000000"), "--limit"),
    "orders list limit 0": Bad(("orders", "list", "-t", "shop", "--limit", "0"), "--limit"),
    "actions list limit 2^31": Bad(("actions", "list", "--limit", "2147483648"), "--limit"),
    "product list limit 10^20": Bad(("product", "list", "-t", "shop", "--limit", "100000000000000000000"),
                                    "--limit"),
    # product files
    "csv stock 3,000,000,000": Bad(("product", "import", "-t", "shop", "p.csv"), "out of range (0 to 2147483647)",
                                   products(f"{CSV}X1,,Mug,1,3000000000\n".encode())),
    "csv price NaN": Bad(("product", "import", "-t", "shop", "p.csv"), "price 'NaN' is not a number",
                         products(f"{CSV}X1,,Mug,NaN,1\n".encode())),
    "csv price -5": Bad(("product", "import", "-t", "shop", "p.csv"), "price '-5' is negative",
                        products(f"{CSV}X1,,Mug,-5,1\n".encode())),
    "csv price 10^20": Bad(("product", "import", "-t", "shop", "p.csv"), "too large",
                           products(f"{CSV}X1,,Mug,100000000000000000000,1\n".encode())),
    "csv EAN arabic-indic digits": Bad(("product", "import", "-t", "shop", "p.csv"), "must be digits 0-9",
                                       products(f"{CSV}X1,٨٧١٢٣٤٥٦٧٨٩٠٦,Mug,1,1\n".encode())),
    "csv EAN superscript digits": Bad(("product", "import", "-t", "shop", "p.csv"), "must be digits 0-9",
                                      products(f"{CSV}X1,²³,Mug,1,1\n".encode())),
    "csv stock non-ASCII digits": Bad(("product", "import", "-t", "shop", "p.csv"), "digits 0-9",
                                      products(f"{CSV}X1,,Mug,1,٣\n".encode())),
    "csv duplicate SKUs": Bad(("product", "import", "-t", "shop", "p.csv"), "rows 2 and 3 both have SKU 'X1'",
                              products(f"{CSV}X1,,Mug,1,1\nX1,,Mug,1,2\n".encode())),
    "csv latin-1": Bad(("product", "import", "-t", "shop", "p.csv"), "is not UTF-8 text",
                       products(f"{CSV}X1,,Café,1,1\n".encode("latin-1"))),
    "csv no sku column": Bad(("product", "import", "-t", "shop", "p.csv"), "must name at least the column 'sku'",
                             products(b"code,name\nX1,Mug\n")),
    "csv sku 101 chars": Bad(("product", "import", "-t", "shop", "p.csv"), "at most 100",
                             products(f"{CSV}{'S' * 101},,Mug,1,1\n".encode())),
    "json object": Bad(("product", "import", "-t", "shop", "p.json"), "expected a JSON list of product objects",
                       {"p.json": b'{"sku": "X1"}'}),
    "json list of numbers": Bad(("product", "import", "-t", "shop", "p.json"), "expected a JSON list",
                                {"p.json": b"[1, 2]"}),
    "json 100,000 deep": Bad(("product", "import", "-t", "shop", "p.json"), "nested more than 100 levels",
                             {"p.json": DEEP.encode()}),
    # shipments and cancellations
    "ship quantity 0": Bad(("ship", "1001", "-t", "shop", "--carrier", "PostNL", "--line", "SKU1:0"),
                           "quantity must be a positive whole number"),
    "ship quantity 2^31": Bad(("ship", "1001", "-t", "shop", "--carrier", "PostNL", "--line", "SKU1:2147483648"),
                              "quantity must be a positive whole number"),
    "ship quantity superscript": Bad(("ship", "1001", "-t", "shop", "--carrier", "PostNL", "--line", "SKU1:²"),
                                     "quantity must be a positive whole number"),
    "ship unknown id": Bad(("ship", "#999999", "-t", "shop", "--carrier", "PostNL"), "no order with id 999999"),
    "cancel on unknown connection": Bad(("orders", "cancel", "1001", "-t", "shop", "-c", "ghost"),
                                        "no connection named 'ghost'"),
    # KADE_* settings
    "KADE_LOG_FORMAT=xml": Bad(("tenant", "list"), "KADE_LOG_FORMAT='xml'", env={"KADE_LOG_FORMAT": "xml"}),
    "KADE_STOCK_WINDOW=-1": Bad(("tenant", "list"), "KADE_STOCK_WINDOW='-1'", env={"KADE_STOCK_WINDOW": "-1"}),
    "KADE_MAX_ATTEMPTS=abc": Bad(("tenant", "list"), "KADE_MAX_ATTEMPTS='abc'", env={"KADE_MAX_ATTEMPTS": "abc"}),
    "KADE_DATABASE_URL garbage": Bad(("tenant", "list"), "not a database URL",
                                     env={"KADE_DATABASE_URL": "not a url"}),
    "KADE_DATABASE_URL mysql": Bad(("tenant", "list"), "mysql is not supported",
                                   env={"KADE_DATABASE_URL": "mysql://u:p@h/db"}),
    "KADE_REDIS_URL garbage": Bad(("tenant", "list"), "KADE_REDIS_URL", env={"KADE_REDIS_URL": "garbage"}),
    "KADE_REDIS_URL bad port": Bad(("worker",), "KADE_REDIS_URL", env={"KADE_REDIS_URL": "redis://h:99999/0"}),
    "settings before plugins list": Bad(("plugins", "list"), "KADE_LOG_FORMAT", env={"KADE_LOG_FORMAT": "xml"}),
    # usage
    "unknown option": Bad(("tenant", "list", "--colour"), "No such option"),
    "stock not a number": Bad(("stock", "set", "SKU1", "many", "-t", "shop"), "Invalid value for 'quantity'"),
}

_template: dict[str, Path] = {}


@pytest.fixture
def world(cli, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory):  # noqa: F811
    """The prepared data dir, built once and copied for each case."""
    data = tmp_path / "data"
    if "dir" not in _template:
        assert cli("db", "upgrade")[0] == 0
        assert cli("tenant", "add", "shop")[0] == 0
        assert cli("plugins", "enable", "acme", "-t", "shop")[0] == 0
        (tmp_path / "good.json").write_bytes(GOOD_CREDS)
        assert cli("connection", "add", "acme", "c1", "-t", "shop", "--url", "https://s.example",
                   "--credentials", str(tmp_path / "good.json"))[0] == 0
        (tmp_path / "p.csv").write_text(f"{CSV}SKU1,8712345678906,Mug,9.95,5\n")
        assert cli("product", "import", "-t", "shop", str(tmp_path / "p.csv"))[0] == 0
        db = Database(Settings().resolved_database_url())
        with db.transaction() as session:
            conn = session.exec(select(Connection)).one()
            order = Order(tenant_id=conn.tenant_id, connection_id=conn.id, remote_id="R1", number="1001")
            session.add(order)
            session.flush()
            session.add(OrderLine(order_id=order.id, remote_line_id="L1", sku="SKU1", quantity=2))
        db.dispose()
        template = tmp_path_factory.mktemp("cli-world") / "data"
        shutil.copytree(data, template)
        _template["dir"] = template
    else:
        shutil.copytree(_template["dir"], data)
    return cli


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_input_is_one_line_and_exit_2(world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: Bad) -> None:
    for name, body in case.files.items():
        (tmp_path / name).write_bytes(body)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    code, out, err = world(*case.args)
    assert_user_error((code, out, err), case.fragment)
    assert "[parameters:" not in err and "k-123456" not in err


def test_the_table_covers_every_kind_of_input() -> None:
    """Adding a command means adding its ugly cases here; this keeps the table from shrinking."""
    assert len(CASES) >= 55
