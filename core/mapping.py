"""Helpers plugins share when translating store records (the plugin SDK's small toolbox)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime


class MappingError(ValueError):
    """A store record Kade cannot translate; the message becomes its quarantine reason."""


def parse_timestamp(value: object, what: str, *, assume_utc: bool = True) -> datetime:
    """An ISO 8601 date-time from a store, as an aware UTC datetime.

    :param what: the field's name, for the error message.
    :param assume_utc: read a value without offset as UTC (WooCommerce's ``*_gmt`` fields);
        False rejects it (an API that always sends offsets sent something wrong).
    """
    if not isinstance(value, str) or not value:
        raise MappingError(f"{what} is missing")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"{what} {value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        if not assume_utc:
            raise MappingError(f"{what} {value!r} has no UTC offset")
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 and 9999-12-31T23:00:00-05:00 exist only in local time
        raise MappingError(f"{what} {value!r} is outside the representable dates once converted to UTC") from None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name from any mapping (webhook deliveries, responses)."""
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), None)


_TRUE = frozenset({"1", "true", "yes", "on"})


def flag_setting(settings: Mapping[str, object], name: str, default: bool) -> bool:
    """A yes/no connection setting, whether stored typed (``True``) or as text (``"on"``)."""
    value = settings.get(name, default)
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value)
