"""Criteria as the Admin API evaluates them, for the subset Kade uses.

Supported: ``page``/``limit``, ``ids``, filters ``equals``, ``equalsAny``, ``contains``, ``prefix``,
``suffix``, ``range`` (gt/gte/lt/lte, dates compared as instants), ``multi`` and ``not`` with their
operators, ``sort`` (nulls first ascending, as MySQL sorts), ``associations`` (see
``render.ASSOCIATIONS``) and ``total-count-mode`` as a string or the older integers. Anything
else — aggregations, grouping, ``includes``, ``term``, unknown fields — is a clear 400 rather
than a silently ignored clause.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kade.plugins.shopware.simulator.errors import JSON, ShopwareError
from kade.plugins.shopware.simulator.render import ASSOCIATIONS
from kade.plugins.shopware.simulator.state import Order, Product

Getter = Callable[[Any], Any]

#: entity → field path → value (a list for to-many paths: a filter matches if any value does)
FIELDS: dict[str, dict[str, Getter]] = {
    "order": {
        "id": lambda o: o.id,
        "orderNumber": lambda o: o.number,
        "orderDateTime": lambda o: o.order_date_time,
        "createdAt": lambda o: o.created_at,
        "updatedAt": lambda o: o.updated_at,
        "amountTotal": lambda o: float(o.amount_total),
        "stateMachineState.technicalName": lambda o: o.state,
        "deliveries.stateMachineState.technicalName": lambda o: [d.state for d in o.deliveries],
        "deliveries.id": lambda o: [d.id for d in o.deliveries],
        "lineItems.productId": lambda o: [li.product.id for li in o.line_items if li.product],
    },
    "product": {
        "id": lambda p: p.id,
        "productNumber": lambda p: p.product_number,
        "ean": lambda p: p.ean,
        "parentId": lambda p: p.parent_id,
        "stock": lambda p: p.stock,
        "active": lambda p: p.active,
        "childCount": lambda p: p.child_count,
        "createdAt": lambda p: p.created_at,
        "updatedAt": lambda p: p.updated_at,
    },
}

SUPPORTED_KEYS = {"page", "limit", "filter", "sort", "associations", "ids", "total-count-mode"}
#: the largest page the simulator serves (Shopware has no hard cap; huge pages are a client bug)
MAX_LIMIT = 500
_COUNT_MODES = {"none": "none", "exact": "exact", "next-pages": "next-pages", 0: "none", 1: "exact",
                2: "next-pages"}


def _bad(detail: str, pointer: str) -> ShopwareError:
    return ShopwareError(400, "FRAMEWORK__INVALID_CRITERIA_PARAMETERS", detail, pointer=pointer)


def _unsupported(detail: str, pointer: str) -> ShopwareError:
    return ShopwareError(400, "SIMULATOR__UNSUPPORTED_CRITERIA",
                         f"{detail} (the Shopware simulator implements only the Criteria Kade uses)", pointer=pointer)


@dataclass
class Criteria:
    entity: str
    page: int = 1
    limit: int | None = None
    filters: list[JSON] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)
    associations: dict[str, Any] = field(default_factory=dict)
    ids: list[str] | None = None
    count_mode: str = "none"


def _field(entity: str, name: Any, pointer: str) -> Getter:
    if not isinstance(name, str) or not name:
        raise _bad("a filter or sort needs a field name", pointer)
    path = name[len(entity) + 1:] if name.startswith(entity + ".") else name
    getter = FIELDS[entity].get(path)
    if getter is None:
        raise _unsupported(f'field "{name}" of entity "{entity}" is not supported', pointer)
    return getter


def _check_associations(entity: str, value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("associations must be an object of criteria", pointer)
    for name, nested in value.items():
        target = ASSOCIATIONS.get(entity, {}).get(name)
        if target is None:
            raise _unsupported(f'association "{name}" of entity "{entity}" is not supported', f"{pointer}/{name}")
        if not isinstance(nested, dict):
            raise _bad(f'association "{name}" must be a criteria object', f"{pointer}/{name}")
        extra = set(nested) - {"associations"}
        if extra:
            raise _unsupported(f'criteria inside association "{name}" ({", ".join(sorted(extra))})',
                               f"{pointer}/{name}")
        _check_associations(target, nested.get("associations", {}), f"{pointer}/{name}/associations")
    return value


def _check_filter(entity: str, item: Any, pointer: str) -> None:
    if not isinstance(item, dict):
        raise _bad("a filter must be an object", pointer)
    kind = item.get("type")
    if kind in ("multi", "not"):
        operator = str(item.get("operator", "and")).lower()
        if operator not in ("and", "or", "nor", "nand") and not (kind == "not" and operator in ("and", "or")):
            raise _bad(f"unknown operator {operator!r}", pointer)
        queries = item.get("queries")
        if not isinstance(queries, list) or not queries:
            raise _bad(f"a {kind} filter needs queries", pointer)
        for i, query in enumerate(queries):
            _check_filter(entity, query, f"{pointer}/queries/{i}")
        return
    _field(entity, item.get("field"), pointer)
    if kind == "range":
        params = item.get("parameters")
        if not isinstance(params, dict) or not params or set(params) - {"gt", "gte", "lt", "lte"}:
            raise _bad("a range filter needs parameters among gt, gte, lt, lte", pointer)
    elif kind in ("equals", "equalsAny", "contains", "prefix", "suffix"):
        if "value" not in item:
            raise _bad(f"a {kind} filter needs a value", pointer)
    else:
        raise _unsupported(f"filter type {kind!r}", pointer)


def parse(entity: str, body: Any) -> Criteria:
    if not isinstance(body, dict):
        raise _bad("the criteria must be a JSON object", "/")
    extra = set(body) - SUPPORTED_KEYS
    if extra:
        raise _unsupported(f"criteria keys {', '.join(sorted(extra))}", "/")
    criteria = Criteria(entity=entity)
    page, limit = body.get("page", 1), body.get("limit")
    if isinstance(page, str) and page.isdigit():
        page = int(page)
    if isinstance(limit, str) and limit.isdigit():
        limit = int(limit)
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise _bad("The parameter \"page\" must be a positive integer", "/page")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT):
        raise _bad(f"The parameter \"limit\" must be an integer between 1 and {MAX_LIMIT}", "/limit")
    criteria.page, criteria.limit = page, limit
    filters = body.get("filter", [])
    if not isinstance(filters, list):
        raise _bad("filter must be a list", "/filter")
    for i, item in enumerate(filters):
        _check_filter(entity, item, f"/filter/{i}")
    criteria.filters = filters
    sorts = body.get("sort", [])
    if not isinstance(sorts, list):
        raise _bad("sort must be a list", "/sort")
    for i, item in enumerate(sorts):
        if not isinstance(item, dict):
            raise _bad("a sort must be an object", f"/sort/{i}")
        _field(entity, item.get("field"), f"/sort/{i}")
        order = str(item.get("order", "ASC")).upper()
        if order not in ("ASC", "DESC"):
            raise _bad(f"sort order {order!r} is neither ASC nor DESC", f"/sort/{i}")
        criteria.sort.append((str(item["field"]), order == "DESC"))
    criteria.associations = _check_associations(entity, body.get("associations", {}), "/associations")
    ids = body.get("ids")
    if ids is not None:
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _bad("ids must be a list of strings", "/ids")
        criteria.ids = ids
    mode = body.get("total-count-mode", "none")
    if mode not in _COUNT_MODES or isinstance(mode, bool):
        raise _bad(f"total-count-mode {mode!r} is not none, exact or next-pages", "/total-count-mode")
    criteria.count_mode = _COUNT_MODES[mode]
    return criteria


def _instant(value: Any) -> Any:
    """Dates compare as instants; strings the filter holds are parsed like the database does."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


def _values(entity: str, item: JSON, record: Any) -> list[Any]:
    value = _field(entity, item["field"], "")(record)
    return value if isinstance(value, list) else [value]


def matches(entity: str, item: JSON, record: Any) -> bool:
    kind = item["type"]
    if kind in ("multi", "not"):
        results = [matches(entity, q, record) for q in item["queries"]]
        operator = str(item.get("operator", "and")).lower()
        combined = all(results) if operator in ("and", "nand") else any(results)
        if operator in ("nor", "nand"):
            combined = not combined
        return not combined if kind == "not" else combined
    values = _values(entity, item, record)
    wanted = item.get("value")
    if kind == "equals":
        return any(_same(v, wanted) for v in values)
    if kind == "equalsAny":
        options = wanted.split("|") if isinstance(wanted, str) else list(wanted or [])
        return any(_same(v, o) for v in values for o in options)
    if kind in ("contains", "prefix", "suffix"):
        text = str(wanted).lower()
        test = {"contains": str.__contains__, "prefix": str.startswith, "suffix": str.endswith}[kind]
        return any(v is not None and test(str(v).lower(), text) for v in values)
    params = item["parameters"]
    for value in values:
        if value is None:
            continue
        ok = True
        for op, bound in params.items():
            b = _instant(bound)
            try:
                ok = ok and {"gt": value > b, "gte": value >= b, "lt": value < b, "lte": value <= b}[op]
            except TypeError:
                raise _bad(f"range bound {bound!r} cannot be compared with field {item['field']}", "/filter") from None
        if ok:
            return True
    return False


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return bool(value) == bool(wanted) if wanted is not None else value is None
    if wanted is None:
        return value is None
    return str(value) == str(wanted)


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, 0) if value is None else (1, value)


def search(criteria: Criteria, records: Sequence[Order | Product]) -> tuple[list[Any], int]:
    """The page of records and the total the answer reports (per ``total-count-mode``)."""
    entity = criteria.entity
    found = [r for r in records if all(matches(entity, f, r) for f in criteria.filters)]
    if criteria.ids is not None:
        wanted = set(criteria.ids)
        found = [r for r in found if r.id in wanted]
    for name, descending in reversed(criteria.sort):
        getter = _field(entity, name, "/sort")
        found.sort(key=lambda r, g=getter: _sort_key(g(r)), reverse=descending)  # type: ignore[misc]
    total = len(found)
    if criteria.limit is not None:
        start = (criteria.page - 1) * criteria.limit
        page = found[start:start + criteria.limit]
    else:
        start, page = 0, found
    if criteria.count_mode == "exact":
        reported = total
    elif criteria.count_mode == "next-pages" and criteria.limit is not None:
        reported = min(total, start + criteria.limit * 5 + 1)
    else:
        reported = len(page)
    return page, reported
