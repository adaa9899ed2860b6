"""Cursor pagination and the orders search syntax."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from graphql import (
    GraphQLError,
)

from kade.plugins.shopify.simulator.models import MAX_PAGE, money

#: set while a bulk query executes: connections are read whole
BULK_EXPORT: ContextVar[bool] = ContextVar("shopify_sim_bulk_export", default=False)


class _Page:
    """Cursor pagination as Shopify does it: opaque base64 cursors, ``first``/``last`` ≤ 250."""

    @staticmethod
    def cursor(key: tuple[Any, ...]) -> str:
        return base64.b64encode(json.dumps({"last_id": key[-1], "last_value": list(key)}).encode()).decode()

    @staticmethod
    def decode(cursor: str) -> tuple[Any, ...]:
        try:
            data = json.loads(base64.b64decode(cursor.encode(), validate=True))
            return tuple(data["last_value"])
        except (ValueError, KeyError, TypeError):
            raise GraphQLError(f"Invalid cursor for current pagination sort: '{cursor}'") from None

    @classmethod
    def connection(
        cls,
        items: Iterable[Any],
        key: Callable[[Any], tuple[Any, ...]],
        view: Callable[[Any], Any],
        args: Mapping[str, Any],
    ) -> dict[str, Any]:
        bulk = BULK_EXPORT.get()
        if bulk:
            args = {}  # a bulk query reads every connection to its end; paging arguments do not apply
        first, last = args.get("first"), args.get("last")
        if not bulk and first is None and last is None:
            raise GraphQLError("you must provide one of first or last")
        for name, value in (("first", first), ("last", last)):
            if value is not None and not 0 <= value <= MAX_PAGE:
                raise GraphQLError(
                    f"The {name} argument cannot exceed {MAX_PAGE}"
                    if value > MAX_PAGE
                    else f"The {name} argument must be a positive integer"
                )
        ordered = sorted(((key(i), i) for i in items), key=lambda pair: pair[0], reverse=bool(args.get("reverse")))
        rev = bool(args.get("reverse"))
        if args.get("after"):
            mark = cls.decode(args["after"])
            ordered = [p for p in ordered if (p[0] < mark if rev else p[0] > mark)]
        before_exists = bool(args.get("after"))
        if args.get("before"):
            mark = cls.decode(args["before"])
            ordered = [p for p in ordered if (p[0] > mark if rev else p[0] < mark)]
        has_next = has_prev = False
        if first is not None:
            has_next = len(ordered) > first
            ordered = ordered[:first]
        if last is not None:
            has_prev = len(ordered) > last
            ordered = ordered[-last:] if last else []
        has_prev = has_prev or before_exists
        nodes = [view(i) for _, i in ordered]
        edges = [{"cursor": cls.cursor(k), "node": n} for (k, _), n in zip(ordered, nodes, strict=True)]
        return {
            "nodes": nodes,
            "edges": edges,
            "pageInfo": {
                "hasNextPage": has_next,
                "hasPreviousPage": has_prev,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }


_TERM = re.compile(r"""(?P<field>[a-z_]+):(?P<op>>=|<=|>|<)?(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)"|(?P<bare>\S+))""")


def _search_terms(query: str | None) -> list[tuple[str, str, str]]:
    """``field:op value`` terms of Shopify's search syntax (joined with AND / spaces)."""
    terms = []
    for match in _TERM.finditer(query or ""):
        value = next(v for v in (match.group("sq"), match.group("dq"), match.group("bare")) if v is not None)
        terms.append((match.group("field"), match.group("op") or "=", value))
    return terms


def _timestamp(value: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"Invalid search date '{value}'") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _compare(left: Any, op: str, right: Any) -> bool:
    return bool(
        {"=": left == right, ">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    )


def _money_bag(amount: Decimal | str, currency: str) -> dict[str, Any]:
    text = amount if isinstance(amount, str) else money(amount)
    value = {"amount": text, "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": dict(value)}

