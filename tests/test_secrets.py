"""Credentials at rest and the redaction that keeps them out of logs, output and the event log."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet
from sqlmodel import select

from kade.audit import record_event
from kade.config import Settings
from kade.errors import ConfigError, SecretKeyError
from kade.logs import MASK, redact_processor, register_secrets
from kade.models import Connection, Event
from kade.secrets import KEY_FILE, Vault, load_key
from tests.support.factories import make_connection


def test_round_trip_and_ciphertext_hides_the_value() -> None:
    vault = Vault(Fernet.generate_key())
    token = vault.encrypt({"client_secret": "s3cr3t-value-123"})
    assert "s3cr3t" not in token
    assert vault.decrypt(token) == {"client_secret": "s3cr3t-value-123"}


def test_wrong_key_is_a_clear_error_never_garbage() -> None:
    token = Vault(Fernet.generate_key()).encrypt({"a": "b"})
    with pytest.raises(SecretKeyError, match="cannot be decrypted with the configured KADE_SECRET_KEY"):
        Vault(Fernet.generate_key()).decrypt(token)


def test_malformed_key_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="not a valid key"):
        Vault("too-short")


def test_embedded_mode_generates_a_private_key_once(tmp_path: Path, capsys) -> None:
    settings = Settings(data_dir=tmp_path, _env_file=None)
    key = load_key(settings)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated a new secret key" in capsys.readouterr().err
    assert load_key(settings) == key
    assert capsys.readouterr().err == ""  # said once only


def test_server_database_requires_an_explicit_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql://x@h/db", _env_file=None)
    with pytest.raises(ConfigError, match="KADE_SECRET_KEY must be set"):
        load_key(settings)


def test_log_processor_masks_sensitive_keys_and_known_values() -> None:
    register_secrets(["tok-abcdef-123456"])
    event = redact_processor(None, "info", {
        "event": "calling with tok-abcdef-123456",
        "headers": {"Authorization": "Bearer whatever", "Accept": "json"},
        "url": "https://x/?access_token=tok-abcdef-123456",
        "client_secret": "plain",
    })
    assert event["event"] == f"calling with {MASK}"
    assert event["headers"] == {"Authorization": MASK, "Accept": "json"}
    assert "tok-abcdef-123456" not in event["url"]
    assert event["client_secret"] == MASK


def test_credentials_never_reach_logs_or_event_log(kade, store) -> None:
    store.valid_tokens.add("very-secret-token-42")
    conn = make_connection(kade, token="very-secret-token-42")
    with kade.db.session() as session:
        row = session.get(Connection, conn.id)
        assert "very-secret-token-42" not in row.credentials_encrypted
        creds = kade.credentials(row)  # decrypting registers the values for redaction
    assert creds["token"] == "very-secret-token-42"
    with structlog.testing.capture_logs(processors=[redact_processor]) as logs, kade.db.transaction() as session:
        record_event(session, "probe", "failed", "store said: bad token very-secret-token-42",
                     connection_id=conn.id, data={"echo": "very-secret-token-42", "token": "x"})
    with kade.db.session() as session:
        ev = session.exec(select(Event).where(Event.kind == "probe")).one()
    assert "very-secret-token-42" not in ev.message and "very-secret-token-42" not in str(ev.data)
    assert "very-secret-token-42" not in str(logs)
    assert MASK in ev.message


def test_context_repr_hides_credentials(kade, store) -> None:
    store.valid_tokens.add("repr-secret-token-77")
    conn = make_connection(kade, token="repr-secret-token-77")
    with kade.db.session() as session:
        ctx = kade.context(session.get(Connection, conn.id))
    assert ctx.credentials["token"] == "repr-secret-token-77"
    assert "repr-secret-token-77" not in repr(ctx) and "repr-secret-token-77" not in str(ctx)
