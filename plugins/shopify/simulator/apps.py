"""App credentials, access tokens and signed webhook deliveries."""

from __future__ import annotations

import hashlib

from kade.plugins.shopify.simulator.catalog import CatalogState


class AppState(CatalogState):
    """The client-credentials grant and webhook deliveries."""

    # ------------------------------------------------------------------ auth

    def register_app(self, client_id: str, client_secret: str) -> None:
        with self.lock:
            self.apps[client_id] = client_secret

    def issue_app_token(self, client_id: str) -> str:
        with self.lock:
            token = "shpat_" + hashlib.sha256(self.uuid().encode()).hexdigest()[:32]
            self.app_tokens[token] = (client_id, self.clock.now() + self.token_lifetime)
            return token

    def app_for_token(self, token: str | None) -> str | None:
        """The app a token belongs to, or None when it is unknown or expired."""
        if not token:
            return None
        with self.lock:
            if token in self.admin_tokens:
                return self.admin_tokens[token]
            entry = self.app_tokens.get(token)
            if entry is None or entry[1] <= self.clock.now():
                return None
            return entry[0]
