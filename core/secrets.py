"""Credentials at rest: Fernet encryption with a key from ``KADE_SECRET_KEY``.

The embedded mode generates a key into the data directory (mode 0600) and says so once. A wrong
key is a clear ``SecretKeyError`` — never silently garbage credentials.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kade.config import Settings
from kade.errors import ConfigError, SecretKeyError

KEY_FILE = "secret.key"


class Vault:
    """Encrypts and decrypts credential dictionaries."""

    def __init__(self, key: str | bytes) -> None:
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError):
            raise ConfigError(
                "KADE_SECRET_KEY is not a valid key: it must be 32 url-safe base64-encoded bytes "
                "(make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None

    @property
    def fernet(self) -> Fernet:
        return self._fernet

    def encrypt(self, credentials: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, str]:
        try:
            data = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise SecretKeyError(
                "stored credentials cannot be decrypted with the configured KADE_SECRET_KEY "
                "(the key changed or is wrong); restore the original key"
            ) from None
        value = json.loads(data)
        if not isinstance(value, dict):
            raise SecretKeyError("stored credentials are not a mapping")
        return {str(k): str(v) for k, v in value.items()}


def load_key(settings: Settings, *, announce: bool = True) -> str:
    """Return the configured key, generating one for the embedded mode when none is set."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        raise ConfigError("KADE_SECRET_KEY must be set when KADE_DATABASE_URL points at a server database")
    _write_private(path, Fernet.generate_key().decode())
    if announce:
        import sys

        print(f"kade: generated a new secret key in {path} (keep it; credentials need it)", file=sys.stderr)
    return path.read_text().strip()


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def vault_for(settings: Settings) -> Vault:
    return Vault(load_key(settings))
