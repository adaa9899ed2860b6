"""What every Shopify hook needs: the connection's location and page tokens of this plugin's own."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from kade.errors import RejectedByStore
from kade.mapping import MappingError
from kade.plugins.shopify.client import ShopifyClient
from kade.plugins.shopify.mapping import to_gid
from kade.plugins.shopify.queries import SHOP
from kade.types import ConnectionContext

_LOCATION_CACHE_TTL = 3600.0


def encode_token(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(dict(data), separators=(",", ":")).encode()).decode()


def decode_token(token: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        raise RejectedByStore(f"page token {token!r} was not made by this plugin", code="bad_page_token") from None
    if not isinstance(data, dict):
        raise RejectedByStore(f"page token {token!r} was not made by this plugin", code="bad_page_token")
    return data


def location_id(ctx: ConnectionContext, client: ShopifyClient) -> str:
    """The connection's location: the setting, or the shop's only active location."""
    configured = ctx.settings.get("location_id")
    if configured:
        try:
            location: str = to_gid("Location", str(configured))
        except MappingError as exc:
            raise RejectedByStore(f"setting location_id: {exc}", code="invalid_setting") from None
        return location
    cache_key = f"shopify:location:{client.domain}"
    cached = ctx.tokens.get(cache_key)
    if cached:
        return cached
    data = client.execute(SHOP)
    active = [loc for loc in data["locations"]["nodes"] if loc.get("isActive")]
    if len(active) != 1:
        names = ", ".join(f"{loc['name']} ({loc['id']})" for loc in active) or "none"
        raise RejectedByStore(
            f"set location_id: the shop has {len(active)} active locations ({names})", code="location_required"
        )
    ctx.tokens.set(cache_key, active[0]["id"], _LOCATION_CACHE_TTL)
    return str(active[0]["id"])
