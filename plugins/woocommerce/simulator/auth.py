"""WooCommerce's authentication (``WC_REST_Authentication``) and the wc-auth key flow."""

from __future__ import annotations

import base64
import hmac
import json
import math
import re
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from kade.plugins.woocommerce.simulator.api import ApiBase
from kade.plugins.woocommerce.simulator.models import OAUTH_WINDOW, ApiKey, AuthCallback, WPError, oauth_signature
from kade.plugins.woocommerce.simulator.wp import Request, Response


class AuthApi(ApiBase):
    """Basic over HTTPS, OAuth 1.0a, key permissions, ``/wc-auth/v1``."""


    def _authenticate(self, request: Request) -> None:
        state = self.sim
        is_ssl = state.https and request.scheme == "https"
        error: WPError | None = None
        key: ApiKey | None = None
        auth_header = "" if state.strips_authorization else request.headers.get("authorization", "")
        kind = "none"
        if is_ssl:
            ck, cs = request.query.get("consumer_key", ""), request.query.get("consumer_secret", "")
            if not (ck and cs) and auth_header.startswith("Basic "):
                try:
                    ck, _, cs = base64.b64decode(auth_header[6:]).decode().partition(":")
                except ValueError:
                    ck = cs = ""
            if ck and cs:
                kind = "basic"
                candidate = state.keys.get(ck)
                if candidate is not None:
                    if hmac.compare_digest(candidate.consumer_secret, cs):
                        key = candidate
                    else:
                        error = WPError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        if key is None:
            oauth_key, oauth_error = self._oauth(request, is_ssl, auth_header)
            if oauth_key is not None or oauth_error is not None:
                kind = "oauth1"
                key, error = oauth_key, oauth_error or error
        state.requests.append((request.method, request.path, dict(request.query), kind))
        if error is not None:
            headers = {}
            if kind == "basic":
                headers["WWW-Authenticate"] = (
                    'Basic realm="WooCommerce API. Use a consumer key in the username field and a consumer '
                    'secret in the password field."'
                )
            raise _AuthError(error, headers)
        if key is not None:
            method = request.method
            if method in ("GET", "HEAD") and key.permissions not in ("read", "read_write"):
                raise WPError(
                    401, "woocommerce_rest_authentication_error", "The API key provided does not have read permissions."
                )
            if method in ("POST", "PUT", "PATCH", "DELETE") and key.permissions not in ("write", "read_write"):
                raise WPError(
                    401,
                    "woocommerce_rest_authentication_error",
                    "The API key provided does not have write permissions.",
                )
        request.key = key

    def _oauth(self, request: Request, is_ssl: bool, auth_header: str) -> tuple[ApiKey | None, WPError | None]:
        params = dict(request.query)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        if auth_header.startswith("OAuth "):
            for name, quoted, bare in re.findall(r'(oauth_[a-z_-]*)=(?:"([^"]*)"|([^,]*))', auth_header):
                params[name] = httpx.QueryParams(f"v={quoted or bare}")["v"]
        required = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        missing = [name for name in required if not params.get(name)]
        if len(missing) == len(required):
            return None, None
        if missing:
            word = "parameter" if len(missing) == 1 else "parameters"
            return None, WPError(
                401, "woocommerce_rest_authentication_missing_parameter", f"Missing OAuth {word} {', '.join(missing)}"
            )
        key = self.sim.keys.get(params["oauth_consumer_key"])
        if key is None:
            return None, WPError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."
            )
        url = f"{'https' if is_ssl else 'http'}://{request.host}{request.path}"
        given = params["oauth_signature"].replace(" ", "+")
        expected = oauth_signature(request.method, url, params, key.consumer_secret, method)
        if not hmac.compare_digest(expected, given):
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."
            )
        now = self.sim.clock.now()
        try:
            timestamp = float(params["oauth_timestamp"])
        except ValueError:
            timestamp = -math.inf
        if not now - OAUTH_WINDOW <= timestamp <= now + OAUTH_WINDOW:
            return None, WPError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        nonce = params["oauth_nonce"]
        key.nonces = {n: t for n, t in key.nonces.items() if t >= now - OAUTH_WINDOW}
        if nonce in key.nonces:
            return None, WPError(
                401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
            )
        key.nonces[nonce] = timestamp
        return key, None

    @staticmethod
    def _require(request: Request, action: str) -> None:
        """The route's permission callback: without an authenticated key nothing is allowed."""
        if request.key is not None:
            return
        messages = {
            "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
            "view": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
            "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
            "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
            "batch": ("woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."),
            "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
        }
        code, message = messages[action]
        raise WPError(401, code, message)

    # Routes --------------------------------------------------------------------------

    def _wc_auth(self, request: Request) -> Response:
        state = self.sim
        endpoint = request.path[len("/wc-auth/v1/") :].strip("/")
        q = request.query

        def page(status: int, text: str) -> Response:
            return Response(status, None, raw=f"<html><body>{text}</body></html>".encode(), content_type="text/html")

        for name in ("app_name", "scope", "user_id", "return_url", "callback_url"):
            if not q.get(name):
                return page(400, f"Error: {name} parameter is missing.")
        if q["scope"] not in ("read", "write", "read_write"):
            return page(400, "Error: Invalid scope.")
        for name in ("return_url", "callback_url"):
            if urlsplit(q[name]).scheme not in ("http", "https"):
                return page(400, f"Error: The {name} is not a valid URL.")
        if urlsplit(q["callback_url"]).scheme != "https":
            return page(400, "Error: The callback_url needs to be over SSL.")
        if endpoint == "authorize":
            nonce = secrets.token_hex(5)
            state.auth_requests[nonce] = dict(q)
            grant = f"/wc-auth/v1/access_granted?{urlencode({**q, 'wc_auth_nonce': nonce})}"
            deny = f"/wc-auth/v1/access_denied?{urlencode(q)}"
            return page(
                200,
                f"<h1>{q['app_name']} would like to connect to your store</h1>"
                f'<a class="button-primary" href="{grant}">Approve</a> <a href="{deny}">Deny</a>',
            )
        if endpoint == "access_denied":
            return Response(
                302, None, {"Location": _with_query(q["return_url"], success="0", user_id=q["user_id"])}, raw=b""
            )
        if endpoint == "access_granted":
            nonce = q.get("wc_auth_nonce", "")
            if state.auth_requests.pop(nonce, None) is None:
                return page(403, "Error: Invalid nonce.")
            key = state.create_api_key(q["scope"], description=f"{q['app_name']} - API ({state.now():%Y-%m-%d})")
            body = json.dumps(
                {
                    "key_id": key.key_id,
                    "user_id": q["user_id"],
                    "consumer_key": key.consumer_key,
                    "consumer_secret": key.consumer_secret,
                    "key_permissions": key.permissions,
                }
            ).encode()
            callback = AuthCallback(q["callback_url"], body)
            callback.status_code = state.auth_callback_sender(callback.url, body) if state.auth_callback_sender else 200
            state.auth_callbacks.append(callback)
            if not 200 <= callback.status_code < 300:
                state.revoke_api_key(key.consumer_key)
                return page(
                    400,
                    "Error: An error occurred in the request and at the time were unable to send the consumer data.",
                )
            return Response(
                302, None, {"Location": _with_query(q["return_url"], success="1", user_id=q["user_id"])}, raw=b""
            )
        return page(404, "Error: Invalid endpoint.")


class _AuthError(WPError):
    def __init__(self, error: WPError, headers: dict[str, str]) -> None:
        super().__init__(error.status, error.code, error.message, **error.data)
        self.headers = headers


def _with_query(url: str, **params: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)

