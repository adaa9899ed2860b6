"""``searchCriteria``: Magento's one query language for every list endpoint.

Filters inside one filter group are OR-ed, groups are AND-ed; ``condition_type`` defaults to
``eq``; without ``pageSize`` every match comes back; and a ``currentPage`` past the end is
clamped to the last page (Magento's collection does that), so a client that pages until it
sees an empty page loops forever — it must stop by ``total_count``. Both spellings of the keys
(``filter_groups`` and ``filterGroups``...) are accepted, as Magento's request parser does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from kade.plugins.magento.simulator.state import MagentoError

_KEY = re.compile(r"^searchCriteria((?:\[[^\]]*\])+)$")
_CAMEL = {"filterGroups": "filter_groups", "sortOrders": "sort_orders", "conditionType": "condition_type",
          "pageSize": "page_size", "currentPage": "current_page"}
CONDITIONS = ("eq", "neq", "gt", "gteq", "lt", "lteq", "in", "nin", "like", "nlike", "null", "notnull", "from",
              "to", "finset", "nfinset", "moreq")


@dataclass
class Filter:
    field: str
    value: str
    condition_type: str = "eq"


@dataclass
class Criteria:
    filter_groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[tuple[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int = 1

    def echo(self) -> dict[str, Any]:
        """``search_criteria`` as Magento repeats it in the answer."""
        out: dict[str, Any] = {
            "filter_groups": [{"filters": [{"field": f.field, "value": f.value, "condition_type": f.condition_type}
                                           for f in group]} for group in self.filter_groups]}
        if self.sort_orders:
            out["sort_orders"] = [{"field": f, "direction": d} for f, d in self.sort_orders]
        if self.page_size is not None:
            out["page_size"] = self.page_size
            out["current_page"] = self.current_page
        return out


def parse(query: Iterable[tuple[str, str]], *, max_page_size: int | None = None) -> Criteria:
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sorts: dict[int, dict[str, str]] = {}
    criteria = Criteria()
    for name, value in query:
        match = _KEY.match(name)
        if match is None:
            continue
        parts = [_CAMEL.get(p, p) for p in re.findall(r"\[([^\]]*)\]", match.group(1))]
        if parts[0] == "filter_groups" and len(parts) == 5 and parts[2] == "filters":
            groups.setdefault(int(parts[1]), {}).setdefault(int(parts[3]), {})[parts[4]] = value
        elif parts[0] == "sort_orders" and len(parts) == 3:
            sorts.setdefault(int(parts[1]), {})[parts[2]] = value
        elif parts == ["page_size"]:
            criteria.page_size = int(value)
        elif parts == ["current_page"]:
            criteria.current_page = int(value)
        else:
            raise MagentoError(400, '"%fieldName" is not a valid search criteria field.', {"fieldName": name})
    for _, group in sorted(groups.items()):
        filters = []
        for _, raw in sorted(group.items()):
            if "field" not in raw:
                raise MagentoError(400, '"%fieldName" is required. Enter and try again.', {"fieldName": "field"})
            condition = raw.get("condition_type") or "eq"
            if condition not in CONDITIONS:
                raise MagentoError(400, 'Invalid value of "%value" provided for the %fieldName field.',
                                   {"value": condition, "fieldName": "condition_type"})
            filters.append(Filter(raw["field"], raw.get("value", ""), condition))
        criteria.filter_groups.append(filters)
    for _, raw in sorted(sorts.items()):
        direction = (raw.get("direction") or "ASC").upper()
        criteria.sort_orders.append((raw.get("field", ""), "DESC" if direction == "DESC" else "ASC"))
    if criteria.page_size is not None and criteria.page_size < 1:
        raise MagentoError(400, "Invalid value of \"%1\" provided for the pageSize field.", [str(criteria.page_size)])
    if max_page_size is not None and (criteria.page_size is None or criteria.page_size > max_page_size):
        raise MagentoError(400, "Maximum SearchCriteria pageSize is %1", [str(max_page_size)])
    criteria.current_page = max(1, criteria.current_page)
    return criteria


def _compare(raw: Any, wanted: str) -> tuple[Any, Any]:
    """Numbers compare as numbers, everything else (dates are ``Y-m-d H:i:s``) as text."""
    if isinstance(raw, int | float | Decimal) and not isinstance(raw, bool):
        try:
            return Decimal(str(raw)), Decimal(wanted)
        except InvalidOperation:
            pass
    return str(raw), wanted


def _like(pattern: str) -> re.Pattern[str]:
    return re.compile("^" + ".*".join(re.escape(p).replace("_", ".") for p in pattern.split("%")) + "$", re.I | re.S)


def matches(raw: Any, f: Filter) -> bool:
    kind = f.condition_type
    if kind == "null":
        return raw is None
    if kind == "notnull":
        return raw is not None
    if raw is None:
        return kind in ("neq", "nin", "nlike", "nfinset")
    if kind in ("in", "nin"):
        found = str(raw) in [v.strip() for v in f.value.split(",")]
        return found if kind == "in" else not found
    if kind in ("like", "nlike"):
        hit = _like(f.value).match(str(raw)) is not None
        return hit if kind == "like" else not hit
    if kind in ("finset", "nfinset"):
        hit = f.value in str(raw).split(",")
        return hit if kind == "finset" else not hit
    left, right = _compare(raw, f.value)
    outcome: bool = {
        "eq": left == right, "neq": left != right, "gt": left > right, "gteq": left >= right,
        "moreq": left >= right, "from": left >= right, "lt": left < right, "lteq": left <= right, "to": left <= right,
    }[kind]
    return outcome


@dataclass
class Page:
    items: list[Any]
    total_count: int


def search(rows: list[Any], criteria: Criteria, fields: dict[str, Callable[[Any], Any]]) -> Page:
    """Filter, sort and page ``rows``; a field outside ``fields`` is refused (a missing column)."""
    for group in criteria.filter_groups:
        for f in group:
            if f.field not in fields:
                raise MagentoError(400, '"%fieldName" is not a filterable field.', {"fieldName": f.field})
    found = [r for r in rows if all(any(matches(fields[f.field](r), f) for f in group)
                                    for group in criteria.filter_groups if group)]
    for name, direction in reversed(criteria.sort_orders):
        if name not in fields:
            raise MagentoError(400, '"%fieldName" is not a sortable field.', {"fieldName": name})
        value = fields[name]
        found.sort(key=lambda r: _sort_key(value(r)), reverse=direction == "DESC")
    total = len(found)
    if criteria.page_size is None:
        return Page(found, total)
    last = max(1, math.ceil(total / criteria.page_size))
    page = min(criteria.current_page, last)  # Magento clamps a page past the end to the last page
    start = (page - 1) * criteria.page_size
    return Page(found[start:start + criteria.page_size], total)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return (1, Decimal(str(value)))
    return (2, str(value))
