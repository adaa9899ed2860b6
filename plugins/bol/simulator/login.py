"""login.bol.com: ``POST /token`` and ``GET /authorize``."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from kade.plugins.bol.simulator.state import BolSimState

# -- login host ---------------------------------------------------------------------------------

_SENSITIVE_QUERY = {"client_id", "client_secret", "refresh_token", "code", "access_token"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status)


async def token_endpoint(request: Request) -> Response:
    """``POST /token`` on login.bol.com: client credentials, authorization code, refresh token."""
    sim: BolSimState = request.app.state.sim
    if _SENSITIVE_QUERY & set(request.query_params.keys()):
        # bol rejects credentials and tokens in the query string since 18 Nov 2024
        return _oauth_error(400, "invalid_request", "Sensitive information must not be sent in URL query parameters.")
    raw = await request.body()
    form: dict[str, str] = {}
    if raw:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
        form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
    grant_type = form.get("grant_type") or request.query_params.get("grant_type", "")
    client_id: str | None = None
    client_secret: str | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, client_secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except ValueError:
            client_id = client_secret = None
    status, body = sim.grant(grant_type, client_id, client_secret, form)
    return JSONResponse(body, status, headers={"Cache-Control": "no-store"})


async def authorize_endpoint(request: Request) -> Response:
    """``GET /authorize``: the seller logs in and clicks Allow; the sim consents at once."""
    sim: BolSimState = request.app.state.sim
    q = request.query_params
    client_id = q.get("client_id", "")
    redirect_uri = q.get("redirect_uri", "")
    if q.get("response_type") != "code" or client_id not in sim.intermediary_clients or not redirect_uri:
        return _oauth_error(
            400, "invalid_request", "response_type=code, a known client_id and redirect_uri are required."
        )
    code = sim.issue_auth_code(client_id, redirect_uri)
    params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
    separator = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{separator}{urlencode(params)}", 302)


