"""Shopware's error envelope: ``{"errors": [{"status", "code", "title", "detail", "meta"}]}``.

``status`` is a string, as Shopware sends it; every error the simulator answers goes through
``ShopwareError`` so the body always has the documented shape.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

JSON = dict[str, Any]


class ShopwareError(Exception):
    """An error answer; raised anywhere in a handler, rendered once by the app."""

    def __init__(self, status: int, code: str, detail: str, *, meta: JSON | None = None,
                 pointer: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.meta = meta
        self.pointer = pointer
        self.headers = headers or {}

    def entry(self) -> JSON:
        item: JSON = {"status": str(self.status), "code": self.code,
                      "title": HTTPStatus(self.status).phrase, "detail": self.detail}
        if self.pointer is not None:
            item["source"] = {"pointer": self.pointer}
        if self.meta is not None:
            item["meta"] = self.meta
        return item

    def body(self) -> JSON:
        return {"errors": [self.entry()]}


class ShopwareErrors(ShopwareError):
    """Several errors in one answer (a failed Sync API write lists every bad item)."""

    def __init__(self, status: int, errors: list[ShopwareError]) -> None:
        super().__init__(status, errors[0].code, errors[0].detail)
        self.errors = errors

    def body(self) -> JSON:
        return {"errors": [e.entry() for e in self.errors]}


def unimplemented(method: str, path: str) -> ShopwareError:
    """The loud answer for anything the simulator does not model (never a quiet empty result)."""
    return ShopwareError(501, "SIMULATOR__NOT_IMPLEMENTED",
                         f"the Shopware simulator does not implement {method} {path}")
