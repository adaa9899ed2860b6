"""How Magento checks a request's ``Authorization`` header (``Framework\\Oauth\\Oauth``).

Written apart from the plugin's signer on purpose: the two meet only on the wire, so a signing
bug in either shows up as a 401 instead of agreeing with itself.

* ``OAuth`` (any case) with ``oauth_consumer_key``, ``oauth_token``, ``oauth_nonce``,
  ``oauth_timestamp``, ``oauth_signature_method`` (``HMAC-SHA256``; ``HMAC-SHA1`` from older
  clients) and ``oauth_signature``; ``oauth_version`` may be left out but must be 1.0 if sent;
* base string ``METHOD&enc(scheme://host/path)&enc(sorted k=v of the oauth and query
  parameters)``; key ``enc(consumer secret)&enc(token secret)``; JSON bodies are not signed;
* a nonce is used once per consumer; a timestamp more than ``TIME_DEVIATION`` seconds from the
  store's clock is refused;
* ``Bearer <access token>`` works only while ``oauth/consumer/enable_integration_as_bearer`` is on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import quote, unquote

from kade.plugins.magento.simulator.state import Integration, MagentoError, MagentoState

#: ``NonceGenerator\\Oauth\\Nonce::TIME_DEVIATION``
TIME_DEVIATION = 600
UNAUTHORIZED = "The consumer isn't authorized to access %resources."
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def enc(value: str) -> str:
    return quote(value, safe="-_.~")


def base_string(method: str, url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((enc(k), enc(v)) for k, v in params if k != "oauth_signature")
    return "&".join((method.upper(), enc(url), enc("&".join(f"{k}={v}" for k, v in pairs))))


def signature(method: str, url: str, params: list[tuple[str, str]], consumer_secret: str, token_secret: str,
              algorithm: str) -> str:
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    key = f"{enc(consumer_secret)}&{enc(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base_string(method, url, params).encode(), digest).digest()).decode()


def _denied(resource: str) -> MagentoError:
    return MagentoError(401, UNAUTHORIZED, {"resources": resource})


def authenticate(state: MagentoState, *, method: str, url: str, query: list[tuple[str, str]],
                 authorization: str, resource: str) -> Integration:
    """The integration a request acts as, or the 401 Magento answers."""
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "bearer":
        integration = state.by_token(rest.strip())
        if integration is None or not integration.active or not state.bearer_enabled:
            raise _denied(resource)
        return integration
    if scheme.lower() != "oauth":
        raise _denied(resource)
    oauth = {k: unquote(v) for k, v in _PARAM.findall(rest)}
    for name in ("oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_timestamp", "oauth_signature_method",
                 "oauth_signature"):
        if not oauth.get(name):
            raise MagentoError(401, "The %1 parameter is missing or empty.", [name])
    if oauth.get("oauth_version", "1.0") != "1.0":
        raise MagentoError(401, "The oauth_version parameter must be 1.0.")
    algorithm = oauth["oauth_signature_method"]
    if algorithm not in ("HMAC-SHA256", "HMAC-SHA1"):
        raise MagentoError(401, "Signature method %1 is not supported", [algorithm])
    integration = state.integrations.get(oauth["oauth_consumer_key"])
    if integration is None or not integration.active:
        raise MagentoError(401, "A consumer having the specified key does not exist.")
    if not hmac.compare_digest(oauth["oauth_token"], integration.access_token):
        raise MagentoError(401, "The token is invalid or has been revoked.")
    try:
        stamp = int(oauth["oauth_timestamp"])
    except ValueError:
        raise MagentoError(401, "Incorrect timestamp value in the oauth_timestamp parameter") from None
    if stamp <= 0 or abs(stamp - state.clock.now()) > TIME_DEVIATION:
        raise MagentoError(401, "Incorrect timestamp value in the oauth_timestamp parameter")
    params = [(k, v) for k, v in oauth.items() if k != "realm"] + query
    expected = signature(method, url, params, integration.consumer_secret, integration.access_token_secret,
                         algorithm)
    if not hmac.compare_digest(expected, oauth["oauth_signature"]):
        raise MagentoError(401, "The signature is invalid. Verify and try again.")
    with state.lock:
        if oauth["oauth_nonce"] in integration.nonces:
            raise MagentoError(401, "The nonce is already being used by the consumer with ID %1.",
                               [str(len(state.integrations))])
        horizon = state.clock.now() - 2 * TIME_DEVIATION
        for nonce, seen in list(integration.nonces.items()):
            if seen < horizon:
                del integration.nonces[nonce]
        integration.nonces[oauth["oauth_nonce"]] = stamp
    return integration
