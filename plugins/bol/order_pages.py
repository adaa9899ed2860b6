"""Bol order page tokens: which of bol's order listings a page reads.

Bol lists open orders, the changes of the last ``MAX_CHANGE_INTERVAL_MINUTES`` minutes, or the
changes of one day (up to ``HISTORY_DAYS`` back). An import's page token names the listing and
the page: ``o:<page>``, ``m:<minutes>:<page>`` or ``d:<day>:<last day>:<page>``; a day-by-day
import moves on to the next day after a short page.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from kade.plugins.bol.protocol import HISTORY_DAYS, MAX_CHANGE_INTERVAL_MINUTES


def first_segment(since: datetime | None, now: datetime) -> str:
    """Where an import starts: open orders, the last hour's changes, or day by day since ``since``."""
    if since is None:
        return "o:1"
    minutes = max(1, math.ceil((now - since).total_seconds() / 60) + 1)
    if minutes <= MAX_CHANGE_INTERVAL_MINUTES:
        return f"m:{minutes}:1"
    # latest-change-date filters on one day; bol's days are Amsterdam days, so start early and
    # end late by two hours (duplicates are harmless, imports upsert)
    start = max((since - timedelta(hours=2)).date(), (now - timedelta(days=HISTORY_DAYS)).date())
    end = (now + timedelta(hours=2)).date()
    return f"d:{start.isoformat()}:{end.isoformat()}:1"


def segment_params(token: str) -> tuple[dict[str, str | int], str]:
    """Query parameters for a page token, and the token of the page after a full one."""
    kind, _, rest = token.partition(":")
    try:
        if kind == "o":
            page = int(rest)
            return {"status": "OPEN", "page": page}, f"o:{page + 1}"
        if kind == "m":
            minutes, page_raw = rest.split(":")
            page = int(page_raw)
            next_token = f"m:{minutes}:{page + 1}"
            return {"status": "ALL", "change-interval-minute": int(minutes), "page": page}, next_token
        if kind == "d":
            day, end, page_raw = rest.split(":")
            date.fromisoformat(day)
            page = int(page_raw)
            return {"status": "ALL", "latest-change-date": day, "page": page}, f"d:{day}:{end}:{page + 1}"
    except ValueError:
        pass
    raise ValueError(f"not a bol order page token: {token!r}")


def after_short_page(token: str) -> str | None:
    """The next day's first page for day-by-day imports; None when the import is complete."""
    if not token.startswith("d:"):
        return None
    _, day, end, _ = token.split(":")
    following = date.fromisoformat(day) + timedelta(days=1)
    if following > date.fromisoformat(end):
        return None
    return f"d:{following.isoformat()}:{end}:1"
