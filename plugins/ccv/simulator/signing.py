"""CCV's signatures on the shop's side: checking a request's, signing every answer.

Written apart from the plugin on purpose (the simulator checks the plugin, it does not share
its code): ``x-hash`` = hex HMAC-SHA512 of ``"<public>|<METHOD>|<uri>|<body>|<x-date>"``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

from kade.sim.faults import ASGIApp, Message, Receive, Scope, Send

#: the largest accepted distance between ``x-date`` and the shop's clock
MAX_SKEW = 300.0


def digest(public: str, method: str, uri: str, body: bytes, date: str, secret: str) -> str:
    text = f"{public}|{method}|{uri}|".encode() + body + f"|{date}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha512).hexdigest()


def parse_x_date(value: str) -> float | None:
    """``…Z``, ``…+00:00`` and ``…+0000`` (what the SDKs send); None for anything else."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def uri_of(scope: Scope) -> str:
    """Path and query exactly as sent."""
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").split("?", 1)[0]
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


class SigningLayer:
    """Outermost middleware: buffers each answer and adds ``x-date`` and ``x-hash``.

    Signed with the secret of the request's ``x-public`` key when the shop knows it (an unknown
    key gets an unsigned 401). ``tamper`` (read per answer) drops or breaks the signature.
    """

    def __init__(self, app: ASGIApp, secret_for: Callable[[str], str | None], now: Callable[[], float],
                 tamper: Callable[[], str | None]) -> None:
        self.app = app
        self.secret_for = secret_for
        self.now = now
        self.tamper = tamper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        public = headers.get("x-public", "")
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = dict(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        if not start:
            return
        body = b"".join(chunks)
        out = list(start.get("headers", []))
        secret = self.secret_for(public) if public else None
        mode = self.tamper()
        if secret is not None and mode != "missing":
            date = datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            signed = digest(public, str(scope["method"]).upper(), uri_of(scope), body, date, secret)
            if mode == "wrong":
                signed = ("0" if signed[0] != "0" else "1") + signed[1:]
            out += [(b"x-date", date.encode()), (b"x-hash", signed.encode())]
        await send({**start, "headers": out})
        await send({"type": "http.response.body", "body": body})
