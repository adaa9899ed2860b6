"""Lightspeed eCom logins: both are HTTP Basic, only the password's derivation differs.

* ``api_key``: a shop's own API key (Back office > Settings > Developers), user = key,
  password = secret.
* ``app``: an app installed on the shop, user = the app's key, password =
  ``md5(shop token + app secret)``; the token comes from the install callback, whose query is
  signed with ``md5(sorted "k=v" pairs + app secret)``.

Webhook deliveries are signed with the secret of the login that created them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from kade.errors import AuthRejected

AUTH_METHODS = ("api_key", "app")
CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "api_key": ("api_key", "api_secret"),
    "app": ("app_key", "app_secret", "shop_token"),
}
#: Lightspeed keys, secrets and tokens are 32 characters
KEY_LENGTH = 32


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def app_password(shop_token: str, app_secret: str) -> str:
    return _md5(shop_token + app_secret)


def _field(credentials: Mapping[str, str], name: str) -> str:
    value = str(credentials.get(name) or "").strip()
    if not value:
        raise AuthRejected(f"Lightspeed credentials lack {name}", code="missing_credentials")
    if len(value) != KEY_LENGTH:
        raise AuthRejected(f"Lightspeed {name} must be {KEY_LENGTH} characters, not {len(value)}",
                           code="malformed_credentials")
    return value


def basic_login(auth_method: str, credentials: Mapping[str, str]) -> tuple[str, str]:
    """(user, password) for HTTP Basic under ``auth_method``."""
    if auth_method == "api_key":
        return _field(credentials, "api_key"), _field(credentials, "api_secret")
    if auth_method == "app":
        token = _field(credentials, "shop_token")
        return _field(credentials, "app_key"), app_password(token, _field(credentials, "app_secret"))
    raise AuthRejected(f"Lightspeed has no login method {auth_method!r} (use api_key or app)",
                       code="unknown_auth_method")


def signing_secret(auth_method: str, credentials: Mapping[str, str]) -> str:
    """The secret webhook signatures are made with."""
    name = "app_secret" if auth_method == "app" else "api_secret"
    return str(credentials.get(name) or "")


def webhook_signature(body: bytes, secret: str) -> str:
    return hashlib.md5(body + secret.encode(), usedforsecurity=False).hexdigest()


def install_signature(params: Mapping[str, str], app_secret: str) -> str:
    """The signature of an app install callback: md5 of the sorted ``k=v`` pairs plus the secret."""
    pairs = sorted(f"{k}={v}" for k, v in params.items() if k != "signature")
    return _md5("".join(pairs) + app_secret)


def verify_install(params: Mapping[str, str], app_secret: str) -> bool:
    given = str(params.get("signature") or "")
    return bool(given) and hmac.compare_digest(given, install_signature(params, app_secret))
