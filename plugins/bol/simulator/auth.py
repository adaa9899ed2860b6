"""The account's OAuth side: clients, authorization codes, access and refresh tokens."""

from __future__ import annotations

from typing import Any

from kade.plugins.bol.simulator.base import StateBase
from kade.plugins.bol.simulator.models import AUTH_CODE_TTL, AccessToken, AuthCode, RefreshToken, TokenRequest, _b64url


class AuthState(StateBase):
    """Clients, the three grants of ``POST /token`` and consent withdrawal."""

    def add_retailer_client(self, client_id: str, client_secret: str) -> None:
        """Register a retailer's own API key pair (client-credentials flow)."""
        with self.lock:
            self.retailer_clients[client_id] = client_secret

    def add_intermediary_client(self, client_id: str, client_secret: str) -> None:
        """Register a partner app allowed to use the authorization-code flow."""
        with self.lock:
            self.intermediary_clients[client_id] = client_secret

    def deactivate_client(self, client_id: str) -> None:
        """Make the account inactive: API calls with its tokens get 403."""
        with self.lock:
            self.inactive_clients.add(client_id)

    def issue_auth_code(self, client_id: str, redirect_uri: str) -> str:
        """What the seller's "Allow" click produces: a short-lived, single-use code."""
        with self.lock:
            if client_id not in self.intermediary_clients:
                raise ValueError(f"{client_id!r} is not a registered intermediary client")
            code = _b64url(self.rng.randbytes(12))
            self.auth_codes[code] = AuthCode(client_id, redirect_uri, self.now() + AUTH_CODE_TTL)
            return code

    def token_request_count(self, grant_type: str | None = None, *, ok_only: bool = True) -> int:
        with self.lock:
            return sum(
                1
                for r in self.token_requests
                if (grant_type is None or r.grant_type == grant_type) and (not ok_only or r.status == 200)
            )

    def _issue_access(self, client_id: str, ttl: int, chain_id: str | None) -> str:
        now = self.now()
        token = self._jwt({"sub": client_id, "iat": int(now), "exp": int(now + ttl), "jti": self._uuid()})
        self.access_tokens[token] = AccessToken(client_id, now + ttl, chain_id)
        return token

    def _issue_refresh(self, client_id: str, chain_id: str, expires_at: float) -> str:
        token = self._jwt({"sub": client_id, "exp": int(expires_at), "jti": self._uuid(), "typ": "refresh"})
        self.refresh_tokens[token] = RefreshToken(client_id, chain_id, expires_at)
        return token

    def grant(
        self, grant_type: str, client_id: str | None, client_secret: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        """Handle ``POST /token``; returns (status, JSON body) as login.bol.com would."""
        with self.lock:
            status, body = self._grant(grant_type, client_id, client_secret, form)
            self.token_requests.append(TokenRequest(grant_type, client_id, self.now(), status))
            return status, body

    def _grant(
        self, grant_type: str, client_id: str | None, client_secret: str | None, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        bad_client = (401, {"error": "invalid_client", "error_description": "Bad client credentials"})
        if client_id is None or client_secret is None:
            return bad_client
        known = {**self.retailer_clients, **self.intermediary_clients}
        if known.get(client_id) != client_secret:
            return bad_client
        now = self.now()
        if grant_type == "client_credentials":
            if client_id not in self.retailer_clients:
                return 400, {"error": "unauthorized_client", "error_description": "Grant type not allowed"}
            token = self._issue_access(client_id, self.access_token_ttl, None)
            return 200, {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.access_token_ttl,
                "scope": "RETAILER",
            }
        if client_id not in self.intermediary_clients:
            return 400, {"error": "unauthorized_client", "error_description": "Grant type not allowed"}
        if grant_type == "authorization_code":
            code = self.auth_codes.get(form.get("code", ""))
            if (
                code is None
                or code.used
                or code.client_id != client_id
                or code.expires_at <= now
                or code.redirect_uri != form.get("redirect_uri")
            ):
                return 400, {"error": "invalid_grant", "error_description": "Invalid authorization code"}
            code.used = True
            chain_id = self._uuid()
            refresh = self._issue_refresh(client_id, chain_id, now + self.refresh_token_ttl)
        elif grant_type == "refresh_token":
            record = self.refresh_tokens.get(form.get("refresh_token", ""))
            if record is None or record.client_id != client_id or not record.active:
                return 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}
            if record.expires_at <= now:
                return 400, {"error": "invalid_grant", "error_description": "Refresh token expired"}
            chain_id = record.chain_id
            refresh = form["refresh_token"]
            if self.rotate_refresh_tokens:
                # only the newest refresh token of a consent works (bol's "method 2")
                for other in self.refresh_tokens.values():
                    if other.chain_id == chain_id:
                        other.active = False
                refresh = self._issue_refresh(client_id, chain_id, record.expires_at)
        else:
            return 400, {"error": "unsupported_grant_type", "error_description": f"{grant_type!r} not supported"}
        token = self._issue_access(client_id, self.code_access_token_ttl, chain_id)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.code_access_token_ttl,
            "refresh_token": refresh,
            "scope": "offline_access",
        }

    def revoke_consent(self, refresh_token: str) -> None:
        """The seller withdrew the partner's access: the whole refresh chain stops working."""
        with self.lock:
            record = self.refresh_tokens[refresh_token]
            for other in self.refresh_tokens.values():
                if other.chain_id == record.chain_id:
                    other.active = False
            for token in self.access_tokens.values():
                if token.chain_id == record.chain_id:
                    token.expires_at = 0.0

