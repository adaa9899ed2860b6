"""Webhook deliveries as the simulated shop sends them.

The body is the changed resource wrapped in its singular name (``{"order": {...}}``); the
``X-Signature`` header is ``md5(body + secret)`` with the secret of the login that created the
webhook (API secret or app secret). The platform does not publish the scheme; this is the one its integrations use.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kade.plugins.lightspeed.simulator.state import Delivery, Webhook


def signature(body: bytes, secret: str) -> str:
    return hashlib.md5(body + secret.encode(), usedforsecurity=False).hexdigest()


def signed_delivery(hook: Webhook, payload: dict[str, Any], secret: str, group: str, action: str,
                    item_id: int) -> Delivery:
    from kade.plugins.lightspeed.simulator.state import Delivery

    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Signature": signature(body, secret),
        "X-Shop-Id": str(hook.shop_id),
        "X-Item-Group": group,
        "X-Item-Action": action,
        "X-Item-Id": str(item_id),
        "X-Webhook-Id": str(hook.id),
    }
    return Delivery(webhook_id=hook.id, address=hook.address, headers=headers, body=body)
