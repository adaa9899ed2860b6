"""CCV Shop's request and answer signatures.

Every request carries ``x-public`` (the API public key), ``x-date`` (ISO-8601 UTC, at most five
minutes off the shop's clock) and ``x-hash``: hex HMAC-SHA512 over
``"<public>|<METHOD>|<uri>|<body>|<x-date>"`` with the secret, where ``uri`` is the path with its
query string exactly as sent and ``body`` the raw JSON (empty for reads). The shop signs its answers
the same way over the answer's body and its own ``x-date``; an answer whose signature is missing or
wrong is not the shop's and is never read as data.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from kade.errors import AuthRejected

#: keys created in the back office (API settings) and keys an App Store install hands over; both
#: sign the same way, the second is what a shop moves to when it installs Kade's app
AUTH_METHODS = ("api_key", "app")
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "api_key": ("public_key", "secret_key"),
    "app": ("public_key", "secret_key"),
}


def x_date(moment: datetime) -> str:
    """``x-date`` as CCV's own examples send it: ``2026-03-02T12:00:07Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signature(public: str, method: str, uri: str, body: bytes | str, date: str, secret: str) -> str:
    data = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    message = f"{public}|{method.upper()}|{uri}|{data}|{date}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha512).hexdigest()


def keys(auth_method: str, credentials: Mapping[str, str]) -> tuple[str, str]:
    """(public key, secret) of a login, or ``AuthRejected`` naming what is missing."""
    if auth_method not in CREDENTIAL_FIELDS:
        raise AuthRejected(f"CCV Shop has no login method {auth_method!r} (known: {', '.join(AUTH_METHODS)})",
                           code="unknown_auth_method")
    public = str(credentials.get("public_key") or "").strip()
    secret = str(credentials.get("secret_key") or "").strip()
    missing = [name for name, value in (("public_key", public), ("secret_key", secret)) if not value]
    if missing:
        raise AuthRejected(f"CCV Shop credentials lack {' and '.join(missing)}", code="missing_credentials")
    return public, secret


def answer_is_signed(public: str, method: str, uri: str, body: bytes, headers: Mapping[str, str],
                     secret: str) -> str | None:
    """None when the answer carries the shop's signature, else what is wrong with it."""
    date = headers.get("x-date")
    given = headers.get("x-hash")
    if not date or not given:
        return "the answer is not signed (no x-date/x-hash)"
    expected = signature(public, method, uri, body, date, secret)
    if not hmac.compare_digest(expected, given.strip().lower()):
        return "the answer's x-hash does not match its body"
    return None
