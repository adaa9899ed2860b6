"""Keys, secret settings and webhook URLs as the operator meets them on the command line."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from kade.cli.main import main
from tests.support.dists import install_plugin_dist

SOURCE = """
from kade import hookimpl
from kade.types import Capabilities, PlatformSpec, SettingSpec

@hookimpl
def kade_register_platforms():
    yield PlatformSpec(name="acme", title="acme shop", auth_methods=("api_key",), default_auth_method="api_key",
                       credential_fields={"api_key": ("api_key",)}, capabilities=Capabilities(webhooks=True),
                       settings=(SettingSpec(name="signing_key", secret=True, description="signs webhooks"),
                                 SettingSpec(name="colour", default="blue")))

@hookimpl
def verify_webhook(ctx, headers, body):
    return False

@hookimpl
def parse_webhook(ctx, headers, body):
    return None
"""
SIGNING = "sk-live-7f3a9c2e11d4"
URL_PASSWORD = "basic-auth-pw-5521"


@pytest.fixture
def kcli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for key in ("KADE_DATABASE_URL", "KADE_SECRET_KEY", "KADE_REDIS_URL", "KADE_LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KADE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KADE_DISABLED_PLUGINS", "bol,shopify,woocommerce")
    monkeypatch.setattr("kade.cli.main.out.width", 250, raising=False)
    monkeypatch.setattr("kade.cli.main.err.width", 250, raising=False)
    monkeypatch.chdir(tmp_path)
    install_plugin_dist(tmp_path / "site", monkeypatch, dist="kade-acme-secret", module="kadetest_secret_acme",
                        source=SOURCE)

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _connect(kcli, tmp_path: Path, name: str = "c1") -> None:
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"api_key": "k-123456789"}))
    code, _, err = kcli("connection", "add", "acme", name, "-t", "shop", "--url",
                        f"https://admin:{URL_PASSWORD}@s.example", "--credentials", str(creds),
                        "--set", f"signing_key={SIGNING}")
    assert code == 0, err


def _ready(kcli, tmp_path: Path) -> None:
    for args in (("db", "upgrade"), ("tenant", "add", "shop"), ("plugins", "enable", "acme", "-t", "shop")):
        code, _, err = kcli(*args)
        assert code == 0, err
    _connect(kcli, tmp_path)


def _one_error_line(result: tuple[int, str, str], fragment: str) -> None:
    code, _, err = result
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("kade: warning")]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err


def test_a_secret_setting_is_encrypted_and_never_printed(kcli, tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    _ready(kcli, tmp_path)
    monkeypatch.setenv("KADE_LOG_LEVEL", "INFO")  # the JSON log line of the change, too
    outputs = [
        kcli("connection", "settings", "c1", "signing_key", "sk-live-second-99887", "-t", "shop"),
        kcli("connection", "show", "c1", "-t", "shop"),
        kcli("connection", "settings", "c1", "-t", "shop"),
        kcli("connection", "list"),
        kcli("events", "-t", "shop"),
    ]
    text = "".join(out + err for _, out, err in outputs)
    assert all(code == 0 for code, _, _ in outputs), text
    assert "signing_key" in text and "connection_setting" in text
    for secret in (SIGNING, "sk-live-second-99887", URL_PASSWORD):
        assert secret not in text
    assert "***" in text and "https://admin:***@s.example" in text
    dump = "\n".join(sqlite3.connect(tmp_path / "data" / "kade.sqlite3").iterdump())
    assert SIGNING not in dump and "sk-live-second-99887" not in dump and URL_PASSWORD in dump


def test_connection_show_gives_the_webhook_url_and_the_token_rotates(kcli, tmp_path: Path, monkeypatch) -> None:
    _ready(kcli, tmp_path)
    monkeypatch.setenv("KADE_PUBLIC_URL", "https://kade.example.com/")
    shown = kcli("connection", "show", "c1", "-t", "shop")[1]
    (url,) = [w for w in shown.split() if w.startswith("https://kade.example.com/webhooks/")]
    assert len(url.rsplit("/", 1)[1]) >= 32
    code, out, _ = kcli("secrets", "webhook-token", "c1", "-t", "shop", "--rotate")
    assert code == 0 and "https://kade.example.com/webhooks/" in out and url not in out
    assert url not in kcli("connection", "show", "c1", "-t", "shop")[1]


def test_a_wrong_key_stops_every_process_with_one_line(kcli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KADE_SECRET_KEY", Fernet.generate_key().decode())
    _ready(kcli, tmp_path)
    monkeypatch.setenv("KADE_SECRET_KEY", Fernet.generate_key().decode())
    started: list[str] = []
    monkeypatch.setattr("dramatiq.cli.main", lambda: started.append("worker") or 0)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append("serve"))
    _one_error_line(kcli("tenant", "list"), "KADE_SECRET_KEY does not match")
    _one_error_line(kcli("serve"), "KADE_SECRET_KEY does not match")
    monkeypatch.setenv("KADE_REDIS_URL", "redis://127.0.0.1:6379/15")
    _one_error_line(kcli("worker"), "KADE_SECRET_KEY does not match")
    monkeypatch.delenv("KADE_REDIS_URL")
    _one_error_line(kcli("worker"), "KADE_SECRET_KEY does not match")
    creds = tmp_path / "creds2.json"
    creds.write_text(json.dumps({"api_key": "k-2"}))
    _one_error_line(kcli("connection", "add", "acme", "c2", "-t", "shop", "--url", "https://t.example",
                         "--credentials", str(creds)), "KADE_SECRET_KEY does not match")
    assert started == []


def test_the_embedded_mode_never_makes_a_new_key_for_a_database_with_secrets(kcli, tmp_path: Path) -> None:
    _ready(kcli, tmp_path)
    key_file = tmp_path / "data" / "secret.key"
    key_file.unlink()
    _one_error_line(kcli("connection", "list"), "secret key file")
    _one_error_line(kcli("db", "upgrade"), "secret key file")
    assert not key_file.exists()


def test_the_data_folder_and_its_files_are_private(kcli, tmp_path: Path) -> None:
    _ready(kcli, tmp_path)
    data = tmp_path / "data"
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = [p for p in data.iterdir() if p.name.startswith("kade.sqlite3")]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert stat.S_IMODE((data / "secret.key").stat().st_mode) == 0o600
    (data / "secret.key").chmod(0o644)
    code, _, err = kcli("connection", "list")
    assert code == 0 and "readable by other users" in err and "chmod 600" in err


def test_rotate_from_the_command_line(kcli, tmp_path: Path, monkeypatch) -> None:
    old = Fernet.generate_key().decode()
    monkeypatch.setenv("KADE_SECRET_KEY", old)
    _ready(kcli, tmp_path)
    code, new, _ = kcli("secrets", "generate-key")
    new = new.strip()
    assert code == 0 and Fernet(new.encode())
    monkeypatch.setenv("KADE_SECRET_KEY", f"{new},{old}")
    assert "2 stored, 2 under an older key" in kcli("secrets", "check")[1]
    code, out, err = kcli("secrets", "rotate")
    assert code == 0 and "1 row(s) re-encrypted" in out, err
    monkeypatch.setenv("KADE_SECRET_KEY", new)
    assert "0 under an older key" in kcli("secrets", "check")[1]
    monkeypatch.setenv("KADE_SECRET_KEY", old)
    _one_error_line(kcli("secrets", "check"), "KADE_SECRET_KEY does not match")
