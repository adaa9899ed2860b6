"""Secrets at rest: Fernet encryption with the key(s) in ``KADE_SECRET_KEY``, checked and rotatable.

``KADE_SECRET_KEY`` holds one key, or during a rotation ``NEW,OLD`` (comma-separated): the first
encrypts, every one decrypts (cryptography's ``MultiFernet``). A key check — a token of a fixed
text under the key — is stored in the database by ``kade db upgrade``, so a process started with
a wrong key refuses to start with one line instead of failing every job later.

The embedded mode generates a key into the data directory (0600, in a 0700 folder) and says so
once — but never for a database that already holds encrypted values: a new key would not open
them, and silently replacing a deleted key file would leave the credentials unreadable.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlmodel import Session, col, select

from kade.config import Settings
from kade.errors import ConfigError, SecretKeyError

if TYPE_CHECKING:
    from kade.db import Database

KEY_FILE = "secret.key"
#: a setting value stored encrypted starts with this (the rest is a Fernet token)
SECRET_PREFIX = "enc:"
KEY_CHECK = "secret_key_check"
_CHECK_TEXT = b"kade secret key check"
WRONG_KEY = (
    "KADE_SECRET_KEY does not match the key this database's secrets are encrypted with; set the "
    "original key (while rotating: NEW,OLD comma-separated)"
)


class Vault:
    """Encrypts and decrypts credential dictionaries and secret settings."""

    def __init__(self, key: str | bytes) -> None:
        text = key.decode() if isinstance(key, bytes) else key
        parts = [part.strip() for part in text.split(",") if part.strip()]
        try:
            if not parts:
                raise ValueError("empty")
            self._keys = [Fernet(part.encode()) for part in parts]
        except (ValueError, TypeError):
            raise ConfigError(
                "KADE_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded bytes, or "
                "NEW,OLD while rotating (make one with: kade secrets generate-key)"
            ) from None
        self._fernet = MultiFernet(self._keys)

    @property
    def fernet(self) -> MultiFernet:
        return self._fernet

    @property
    def rotating(self) -> bool:
        """More than one key is configured: old tokens are read, new ones written under the first."""
        return len(self._keys) > 1

    def encrypt(self, credentials: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        value = json.loads(self._open(token, "stored credentials"))
        if not isinstance(value, dict):
            raise SecretKeyError("stored credentials are not a mapping")
        return {str(k): str(v) for k, v in value.items()}

    def encrypt_text(self, text: str) -> str:
        return SECRET_PREFIX + self._fernet.encrypt(text.encode()).decode()

    def decrypt_text(self, value: str) -> str:
        if not is_encrypted(value):
            return value  # written before the setting was declared secret
        return self._open(value[len(SECRET_PREFIX):], "a secret setting").decode()

    def is_current(self, token: str) -> bool:
        """Encrypted under the first (current) key?"""
        raw = token[len(SECRET_PREFIX):] if is_encrypted(token) else token
        try:
            self._keys[0].decrypt(raw.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same secret re-encrypted under the current key."""
        if is_encrypted(token):
            return SECRET_PREFIX + self._rotate(token[len(SECRET_PREFIX):])
        return self._rotate(token)

    def _rotate(self, raw: str) -> str:
        try:
            return self._fernet.rotate(raw.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(WRONG_KEY) from None

    def _open(self, token: str, what: str) -> bytes:
        try:
            return self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise SecretKeyError(
                f"{what} cannot be decrypted with the configured KADE_SECRET_KEY "
                "(the key changed or is wrong); restore the original key"
            ) from None

    def check_token(self) -> str:
        return self._fernet.encrypt(_CHECK_TEXT).decode()

    def opens(self, token: str) -> bool:
        try:
            return self._fernet.decrypt(token.encode()) == _CHECK_TEXT
        except InvalidToken:
            return False


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SECRET_PREFIX)


# --------------------------------------------------------------------------------------------
# The key on disk (embedded mode)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` readable by its owner only (0700); warn when an existing one is open to others."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700, exist_ok=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        warnings.warn(f"the data folder {path} is open to other users (mode {mode:04o}): chmod 700 {path}",
                      stacklevel=2)


def ensure_private_file(path: Path) -> None:
    """Create ``path`` (and its folder) so only its owner can read it: 0600 in a 0700 folder."""
    ensure_private_dir(path.parent)
    if path.exists():
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    path.chmod(0o600)


def load_key(settings: Settings, *, announce: bool = True,
             holds_secrets: Callable[[], bool] | None = None) -> str:
    """Return the configured key, generating one for the embedded mode when none is set.

    ``holds_secrets`` tells whether the database already holds encrypted values; then a missing
    key file is an error, never a reason to make a new key.
    """
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / KEY_FILE
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            warnings.warn(f"the secret key file {path} is readable by other users (mode {mode:04o}): "
                          f"chmod 600 {path}", stacklevel=2)
        return path.read_text().strip()
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise ConfigError("KADE_SECRET_KEY must be set when KADE_DATABASE_URL points at a server database")
    if holds_secrets is not None and holds_secrets():
        raise ConfigError(
            f"the secret key file {path} is missing but the database holds secrets encrypted with it: "
            "restore the file or set KADE_SECRET_KEY (a new key would not open them)"
        )
    _write_private(path, Fernet.generate_key().decode())
    if announce:
        print(f"kade: generated a new secret key in {path} (keep it; credentials need it)", file=sys.stderr)
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def vault_for(settings: Settings) -> Vault:
    return Vault(load_key(settings))


# --------------------------------------------------------------------------------------------
# The key check in the database


def holds_secrets(session: Session) -> bool:
    """Whether anything in the database is encrypted (a key check or any connection)."""
    from kade.models import Connection, Meta

    # connections first: that table is as old as the schema, the key check's is not
    if session.exec(select(Connection.id).limit(1)).first() is not None:
        return True
    return session.get(Meta, KEY_CHECK) is not None


def verify_key(session: Session, vault: Vault) -> None:
    """Raise ``SecretKeyError`` (one line) unless the configured key opens this database's secrets.

    Uses the stored key check; a database migrated before it existed is checked against one
    stored credential instead.
    """
    from kade.models import Connection, Meta

    check = session.get(Meta, KEY_CHECK)
    if check is not None:
        if not vault.opens(check.value):
            raise SecretKeyError(WRONG_KEY)
        return
    sample = session.exec(select(Connection.credentials_encrypted).order_by(col(Connection.id)).limit(1)).first()
    if sample is not None:
        try:
            vault.decrypt(sample)
        except SecretKeyError:
            raise SecretKeyError(WRONG_KEY) from None


def store_key_check(session: Session, vault: Vault) -> bool:
    """Verify the key, then record (or renew under the current key) the key check; True if written."""
    from kade.models import Meta, utcnow

    verify_key(session, vault)
    check = session.get(Meta, KEY_CHECK)
    if check is not None and vault.is_current(check.value):
        return False
    if check is None:
        check = Meta(name=KEY_CHECK, value=vault.check_token())
    else:
        check.value = vault.check_token()
        check.updated_at = utcnow()
    session.add(check)
    return True


# --------------------------------------------------------------------------------------------
# Rotation


@dataclass
class RotateStats:
    #: rows (connections, webhook subscriptions, alert channels) re-encrypted under the current key
    rotated: int = 0
    #: rows already entirely under the current key (a resumed rotation skips them)
    current: int = 0
    #: rows changed by another process between read and write; the next pass takes them
    conflicts: int = 0
    passes: int = 0


def rotate_secrets(db: Database, vault: Vault, *, batch: int = 200,
                   progress: Callable[[RotateStats], None] | None = None, max_passes: int = 5) -> RotateStats:
    """Re-encrypt every stored secret under the current (first) key; safe while workers run.

    Each batch is its own transaction, so an interrupted rotation resumes where it stopped (what
    is current is skipped). A row is written only if its credentials are still the ones read (a
    worker saving a refreshed token meanwhile wins; that row is taken on the next pass). The key
    check is renewed last, so processes still holding only the old key can no longer start.
    """
    from kade.models import Connection

    total = RotateStats()
    while total.passes < max_passes:
        total.passes += 1
        conflicts = 0
        last_id = 0
        while True:
            with db.transaction() as session:
                rows = session.exec(
                    select(Connection.id, Connection.credentials_encrypted, Connection.settings)
                    .where(col(Connection.id) > last_id).order_by(col(Connection.id)).limit(batch)
                    .with_for_update()
                ).all()
                if not rows:
                    break
                for connection_id, credentials, settings in rows:
                    assert connection_id is not None
                    last_id = connection_id
                    stale = {k: v for k, v in settings.items() if is_encrypted(v) and not vault.is_current(v)}
                    if vault.is_current(credentials) and not stale:
                        total.current += 1
                        continue
                    new_settings = {**settings, **{k: vault.rotate(v) for k, v in stale.items()}}
                    new_credentials = credentials if vault.is_current(credentials) else vault.rotate(credentials)
                    result = session.execute(
                        sa.update(Connection)
                        .where(col(Connection.id) == connection_id,
                               col(Connection.credentials_encrypted) == credentials)
                        .values(credentials_encrypted=new_credentials, settings=new_settings)
                    )
                    if result.rowcount == 1:  # type: ignore[attr-defined]
                        total.rotated += 1
                    else:
                        conflicts += 1
            if progress is not None:
                progress(total)
        conflicts += _rotate_columns(db, vault, total, batch)
        total.conflicts = conflicts
        if not conflicts:
            break
    if total.conflicts == 0:
        with db.transaction() as session:
            store_key_check(session, vault)
    return total


def encrypted_columns() -> list[tuple[Any, str]]:
    """Every other table column holding one Fernet token under the key (connections aside)."""
    from kade.models import AlertChannel, WebhookSubscription

    return [(WebhookSubscription, "secret_encrypted"), (AlertChannel, "url_encrypted")]


def _rotate_columns(db: Database, vault: Vault, total: RotateStats, batch: int) -> int:
    """Rotate the single-token columns the same way (batches, compare-and-set); returns conflicts."""
    conflicts = 0
    for model, name in encrypted_columns():
        column = getattr(model, name)
        last_id = 0
        while True:
            with db.transaction() as session:
                rows = session.exec(
                    select(model.id, column).where(model.id > last_id).order_by(model.id).limit(batch)
                    .with_for_update()
                ).all()
                if not rows:
                    break
                for row_id, token in rows:
                    last_id = row_id
                    if vault.is_current(token):
                        total.current += 1
                        continue
                    result = session.execute(sa.update(model).where(model.id == row_id, column == token)
                                             .values({name: vault.rotate(token)}))
                    if result.rowcount == 1:  # type: ignore[attr-defined]
                        total.rotated += 1
                    else:
                        conflicts += 1
    return conflicts
