"""The query root: shop, orders, locations, variants, inventory items, jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLError

from kade.plugins.shopify.simulator.models import ORDER_WINDOW_DAYS, Order, Variant, _require_gid, gid
from kade.plugins.shopify.simulator.paging import _compare, _Page, _search_terms, _timestamp
from kade.plugins.shopify.simulator.strict import not_implemented
from kade.plugins.shopify.simulator.views import _Views


class _QueryRoot(_Views):
    """Query root fields."""


    def shop(self, info: Any) -> dict[str, Any]:
        sim = self.sim
        return {
            "__typename": "Shop",
            "id": gid("Shop", 1),
            "name": sim.shop_name,
            "email": f"owner@{sim.shop_domain}",
            "myshopifyDomain": sim.shop_domain,
            "currencyCode": sim.currency,
            "ianaTimezone": "UTC",
        }

    def _visible_orders(self) -> list[Order]:
        if self.sim.read_all_orders:
            return list(self.sim.orders.values())
        horizon = self.sim.now() - ORDER_WINDOW_DAYS * 86_400
        return [o for o in self.sim.orders.values() if o.created_at >= horizon]

    def _order_matches(self, order: Order, terms: list[tuple[str, str, str]]) -> bool:
        for name, op, value in terms:
            if name in ("updated_at", "created_at", "processed_at"):
                stamp = order.updated_at if name == "updated_at" else order.created_at
                if not _compare(stamp, op, _timestamp(value)):
                    return False
            elif name == "status":
                closed = order.closed_at is not None
                cancelled = order.cancelled_at is not None
                state = {
                    "open": not closed and not cancelled,
                    "closed": closed,
                    "cancelled": cancelled,
                    "not_closed": not closed,
                    "any": True,
                }.get(value.lower(), True)
                if not state:
                    return False
            elif name == "name":
                if order.name.lstrip("#") != value.lstrip("#"):
                    return False
            elif name == "id":
                if not _compare(order.id, op, int(value)):
                    return False
            elif name == "fulfillment_status":
                status = self.sim.fulfillment_status(order)
                wanted = {
                    "shipped": ("FULFILLED",),
                    "fulfilled": ("FULFILLED",),
                    "partial": ("PARTIALLY_FULFILLED",),
                    "unshipped": ("UNFULFILLED",),
                    "unfulfilled": ("UNFULFILLED", "PARTIALLY_FULFILLED"),
                }
                if status not in wanted.get(value.lower(), (status,)):
                    return False
            elif name == "sku" and not any(li.sku == value for li in order.lines):
                return False
        return True

    def orders(self, info: Any, **args: Any) -> dict[str, Any]:
        terms = _search_terms(args.get("query"))
        matches = [o for o in self._visible_orders() if self._order_matches(o, terms)]
        sort = args.get("sortKey") or "PROCESSED_AT"
        keys: dict[str, Callable[[Order], tuple[Any, ...]]] = {
            "UPDATED_AT": lambda o: (o.updated_at, o.id),
            "CREATED_AT": lambda o: (o.created_at, o.id),
            "PROCESSED_AT": lambda o: (o.created_at, o.id),
            "ORDER_NUMBER": lambda o: (o.number, o.id),
        }
        return _Page.connection(matches, keys.get(sort, lambda o: (o.id,)), self.order_view, args)

    def order(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "Order")
        order = self.sim.orders.get(number) if number else None
        return self.order_view(order) if order else None

    def location(self, info: Any, id: str | None = None) -> dict[str, Any] | None:
        if id is None:
            return self.location_view(self.sim.primary_location)
        number = _require_gid(id, "Location")
        loc = self.sim.locations.get(number) if number else None
        return self.location_view(loc) if loc else None

    def locations(self, info: Any, **args: Any) -> dict[str, Any]:
        locs = [loc for loc in self.sim.locations.values() if loc.active or args.get("includeInactive")]
        for name, op, value in _search_terms(args.get("query")):
            if name != "id":
                raise not_implemented(f"the locations search term {name!r}")
            if not value.isdigit():
                raise GraphQLError(f"Invalid search value for id: '{value}'")
            locs = [loc for loc in locs if _compare(loc.id, op, int(value))]
        return _Page.connection(locs, lambda loc: (loc.id,), self.location_view, args)

    def _variants_matching(self, query: str | None) -> list[Variant]:
        terms = _search_terms(query)
        out = []
        for v in self.sim.variants.values():
            if all(
                (name != "sku" or v.sku == value) and (name != "barcode" or v.barcode == value)
                for name, _, value in terms
            ):
                out.append(v)
        return out

    def productVariants(self, info: Any, **args: Any) -> dict[str, Any]:
        return _Page.connection(self._variants_matching(args.get("query")), lambda v: (v.id,), self.variant_view, args)

    def productVariant(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "ProductVariant")
        variant = self.sim.variants.get(number) if number else None
        return self.variant_view(variant) if variant else None

    def inventoryItems(self, info: Any, **args: Any) -> dict[str, Any]:
        return _Page.connection(
            self._variants_matching(args.get("query")), lambda v: (v.inventory_item_id,), self.item_view, args
        )

    def inventoryItem(self, info: Any, id: str) -> dict[str, Any] | None:
        number = _require_gid(id, "InventoryItem")
        variant = self.sim.variant_by_item(number) if number else None
        return self.item_view(variant) if variant else None

    def job(self, info: Any, id: str) -> dict[str, Any] | None:
        job = self.sim.jobs.get(id)
        return {"__typename": "Job", "id": job.id, "done": job.done, "query": None} if job else None

    # -------------------------------------------------------------- mutation root
