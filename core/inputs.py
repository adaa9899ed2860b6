"""What operators type and upload, checked once per kind at the edge (CLI, HTTP API, console).

Each check raises :class:`UserError` saying what was wrong and what is accepted, before anything
reaches the database: an out-of-range number would otherwise come back as a driver error that
prints the statement's parameters. The limits are the schema's, from :mod:`kade.boundary`.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kade.boundary import EAN, INT_MAX, MONEY_LIMIT, text_problem
from kade.errors import UserError

#: nesting accepted in an uploaded JSON document (credentials, products); far above any real one
JSON_DEPTH = 100


def read_text(path: Path, what: str) -> str:
    """A file as UTF-8 text; a UTF-8 byte-order mark (every Excel CSV) is dropped."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(f"{what} {str(path)!r} is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x}; "
                        f"latin-1 or Windows-1252?); save it as UTF-8") from None


def _depth(text: str) -> int:
    """The deepest bracket nesting outside strings (cheap, and no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, what: str) -> Any:
    """A JSON document nested at most ``JSON_DEPTH`` deep, NaN and Infinity refused."""
    if _depth(text) > JSON_DEPTH:
        raise UserError(f"{what} is nested more than {JSON_DEPTH} levels deep")

    def constant(name: str) -> Any:
        raise UserError(f"{what}: {name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise UserError(f"{what} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def check_name(value: str, what: str, limit: int) -> str:
    """A name people type: not blank, no control characters (newlines), at most ``limit`` long."""
    if not value.strip():
        raise UserError(f"{what} is empty")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise UserError(f"{what} {value!r} contains a control character (a newline?)")
    problem = text_problem(value)
    if problem is not None:
        raise UserError(f"{what} {problem}")
    if len(value) > limit:
        raise UserError(f"{what} is {len(value)} characters long; at most {limit} are accepted")
    return value


def check_url(value: str, what: str = "URL", limit: int = 500) -> str:
    """An absolute http(s) URL with a host, as it will be used later (not only its prefix)."""
    if not value.startswith(("http://", "https://")):
        raise UserError(f"{what} {value!r} must start with http:// or https://")
    if any(ch.isspace() for ch in value) or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise UserError(f"{what} {value!r} contains a space or a control character")
    if len(value) > limit:
        raise UserError(f"{what} is {len(value)} characters long; at most {limit} are accepted")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError as exc:
        raise UserError(f"{what} {value!r} is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise UserError(f"{what} {value!r} has no host name (expected e.g. https://shop.example.com)")
    return value


def check_count(value: int, what: str) -> int:
    """A stored count: a whole number from 0 to PostgreSQL's ``integer`` maximum."""
    if not 0 <= value <= INT_MAX:
        raise UserError(f"{what} {value} is out of range (0 to {INT_MAX})")
    return value


def parse_count(raw: object, what: str) -> int:
    text = str(raw).strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", text):
        raise UserError(f"{what} {raw!r} is not a whole number (digits 0-9)")
    return check_count(int(text), what)


def parse_price(raw: object, what: str) -> Decimal:
    """An amount: a finite number, not negative, below what ``numeric(14, 4)`` holds."""
    if isinstance(raw, float) and not math.isfinite(raw):
        raise UserError(f"{what} {raw!r} is not a number")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise UserError(f"{what} {raw!r} is not a number (e.g. 12.95)") from None
    if not value.is_finite():
        raise UserError(f"{what} {raw!r} is not a number (e.g. 12.95)")
    if value < 0:
        raise UserError(f"{what} {raw!r} is negative")
    if value >= MONEY_LIMIT:
        raise UserError(f"{what} {raw!r} is too large (below {MONEY_LIMIT:,} is accepted)")
    return value


def check_ean(value: str, what: str = "barcode") -> str:
    """A barcode (EAN/GTIN/UPC): ASCII digits 0-9 only, as short as its column."""
    if not (value.isascii() and value.isdigit()):
        raise UserError(f"{what} {value!r} must be digits 0-9")
    if len(value) > EAN:
        raise UserError(f"{what} {value!r} is {len(value)} digits long; at most {EAN} are accepted")
    return value
