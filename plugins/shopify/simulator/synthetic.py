"""A synthetic catalogue: N one-variant products at the primary location, computed, not stored.

For benchmarks of the bulk stock export: a million variants would take gigabytes as objects.
Product ``i`` (0-based) has the inventory item ``ITEM_BASE + i``, the SKU ``SYN-0000000`` and
``warehouse_quantity(i)`` available, except every ``drift_every``-th product, whose stock
drifted (``+ DRIFT``). It is served by bulk exports only: a paged query of the location's
inventory levels is refused loudly rather than answered without these items.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, SelectionSetNode, value_from_ast_untyped

from kade.plugins.shopify.simulator.bulkops import jsonl
from kade.plugins.shopify.simulator.models import Location, gid
from kade.plugins.shopify.simulator.paging import _search_terms

ITEM_BASE = 50_000_000
DRIFT = 1000


def warehouse_quantity(i: int) -> int:
    """What the warehouse holds for product ``i`` (and the shop, unless it drifted)."""
    return (i * 7 + 3) % 50


@dataclass(frozen=True)
class SyntheticCatalog:
    count: int
    drift_every: int = 100

    def drifted(self, i: int) -> bool:
        return self.drift_every > 0 and i % self.drift_every == 0

    def quantity(self, i: int) -> int:
        return warehouse_quantity(i) + (DRIFT if self.drifted(i) else 0)

    @property
    def drift_count(self) -> int:
        return 0 if self.drift_every <= 0 else (self.count + self.drift_every - 1) // self.drift_every


def _fields(selection: SelectionSetNode | None) -> list[FieldNode]:
    return [s for s in (selection.selections if selection else ()) if isinstance(s, FieldNode)]


def _level_projector(selection: SelectionSetNode, loc: Location, catalog: SyntheticCatalog
                     ) -> Callable[[int], dict[str, Any]]:
    """A function building product ``i``'s InventoryLevel line with exactly the selected fields."""
    parts: list[Callable[[int], tuple[str, Any]]] = []
    for f in _fields(selection):
        key = f.alias.value if f.alias else f.name.value
        name = f.name.value
        if name == "id":
            prefix = f"gid://shopify/InventoryLevel/{loc.id}?inventory_item_id="

            def level_id(i: int, k: str = key, p: str = prefix) -> tuple[str, Any]:
                return k, f"{p}{ITEM_BASE + i}"

            parts.append(level_id)
        elif name == "quantities":
            args = {a.name.value: value_from_ast_untyped(a.value) for a in f.arguments or ()}
            names = list(args.get("names") or [])
            sub = [(s.alias.value if s.alias else s.name.value, s.name.value) for s in _fields(f.selection_set)]

            def quantities(i: int, k: str = key, names: list[str] = names, sub: list[tuple[str, str]] = sub
                           ) -> tuple[str, Any]:
                values = {"available": catalog.quantity(i), "on_hand": catalog.quantity(i)}
                rows = [{"name": n, "quantity": values.get(n, 0)} for n in names]
                return k, [{alias: row[field] for alias, field in sub} for row in rows]

            parts.append(quantities)
        elif name == "item":
            sub = [(s.alias.value if s.alias else s.name.value, s.name.value) for s in _fields(f.selection_set)]
            unknown = {field for _, field in sub} - {"id", "sku", "tracked"}
            if unknown:
                raise ValueError(f"the synthetic catalogue has no InventoryItem field {sorted(unknown)[0]}")

            def item(i: int, k: str = key, sub: list[tuple[str, str]] = sub) -> tuple[str, Any]:
                values = {"id": gid("InventoryItem", ITEM_BASE + i), "sku": f"SYN-{i:07d}", "tracked": True}
                return k, {alias: values[field] for alias, field in sub}

            parts.append(item)
        elif name != "__typename":
            raise ValueError(f"the synthetic catalogue has no InventoryLevel field {name}")
    return lambda i: dict(part(i) for part in parts)


def synthetic_lines(catalog: SyntheticCatalog, locations: list[Location], query_field: FieldNode
                    ) -> Callable[[], Iterator[str]]:
    """JSONL of ``locations(query:) { … inventoryLevels { … } }`` over the synthetic catalogue."""
    if query_field.name.value != "locations":
        raise ValueError("a shop with a synthetic catalogue exports only locations and their inventory levels")
    args = {a.name.value: value_from_ast_untyped(a.value) for a in query_field.arguments or ()}
    wanted = {value for name, _, value in _search_terms(args.get("query")) if name == "id"}
    chosen = [loc for loc in locations if loc.active and (not wanted or str(loc.id) in wanted)]
    edges = next((f for f in _fields(query_field.selection_set) if f.name.value in ("edges", "nodes")), None)
    node = edges if edges is None or edges.name.value == "nodes" else next(
        (f for f in _fields(edges.selection_set) if f.name.value == "node"), None)
    if node is None:
        raise ValueError("the locations connection selects no nodes")
    loc_fields = _fields(node.selection_set)
    levels = next((f for f in loc_fields if f.name.value == "inventoryLevels"), None)
    level_node = None
    if levels is not None:
        inner = next((f for f in _fields(levels.selection_set) if f.name.value in ("edges", "nodes")), None)
        level_node = inner if inner is None or inner.name.value == "nodes" else next(
            (f for f in _fields(inner.selection_set) if f.name.value == "node"), None)
    scalars = [f for f in loc_fields if f.selection_set is None]
    primary = locations[0] if locations else None
    project = None
    if primary is not None and level_node is not None and level_node.selection_set is not None:
        project = _level_projector(level_node.selection_set, primary, catalog)  # refuses unknown fields now

    def lines() -> Iterator[str]:
        for loc in chosen:
            values = {"id": gid("Location", loc.id), "name": loc.name, "isActive": loc.active}
            yield jsonl({(f.alias.value if f.alias else f.name.value): values.get(f.name.value) for f in scalars})
            if project is None or loc is not primary:
                continue
            parent = gid("Location", loc.id)
            for i in range(catalog.count):
                line = project(i)
                line["__parentId"] = parent
                yield jsonl(line)

    return lines
