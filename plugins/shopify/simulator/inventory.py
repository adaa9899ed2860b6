"""``inventorySetQuantities``: compare-and-set, reasons, adjustment groups."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLError,
)

from kade.plugins.shopify.simulator.fulfillments import _FulfillmentRoot
from kade.plugins.shopify.simulator.models import MAX_INPUT, SET_REASONS, Location, Variant, gid, iso, parse_gid


class _InventoryRoot(_FulfillmentRoot):
    """The inventory mutation."""


    def inventorySetQuantities(self, info: Any, input: dict[str, Any]) -> dict[str, Any]:
        sim = self.sim
        quantities = input.get("quantities") or []
        if len(quantities) > MAX_INPUT:
            raise GraphQLError(
                f"The input array size of {len(quantities)} is greater than the maximum allowed of {MAX_INPUT}.",
                extensions={"code": "MAX_INPUT_SIZE_EXCEEDED"},
            )
        errors: list[dict[str, Any]] = []

        def error(code: str, message: str, *path: str) -> None:
            errors.append({"code": code, "field": ["input", *path], "message": message})

        if input.get("name") not in ("available", "on_hand"):
            error("INVALID_NAME", "The quantity name must be either 'available' or 'on_hand'.", "name")
        if input.get("reason") not in SET_REASONS:
            error("INVALID_REASON", "The specified reason is invalid.", "reason")
        ref = input.get("referenceDocumentUri")
        if ref is not None and not re.match(r"^[a-z][a-z0-9+.-]*://\S+$", ref):
            error("INVALID_REFERENCE_DOCUMENT", "The reference document URI isn't a valid URI.", "referenceDocumentUri")
        ignore = bool(input.get("ignoreCompareQuantity"))
        seen: set[tuple[int, int]] = set()
        targets: list[tuple[Variant, Location, int]] = []
        for index, row in enumerate(quantities):
            at = ("quantities", str(index))
            item_id = parse_gid(row.get("inventoryItemId"), "InventoryItem")
            variant = sim.variant_by_item(item_id) if item_id else None
            loc_id = parse_gid(row.get("locationId"), "Location")
            loc = sim.locations.get(loc_id) if loc_id else None
            quantity = row["quantity"]
            if variant is None:
                error(
                    "INVALID_INVENTORY_ITEM", "The specified inventory item could not be found.", *at, "inventoryItemId"
                )
                continue
            if loc is None:
                error("INVALID_LOCATION", "The specified location could not be found.", *at, "locationId")
                continue
            level = sim.levels.get((variant.inventory_item_id, loc.id))
            if level is None:
                error(
                    "ITEM_NOT_STOCKED_AT_LOCATION",
                    "The specified inventory item is not stocked at the location.",
                    *at,
                    "locationId",
                )
                continue
            if (variant.inventory_item_id, loc.id) in seen:
                error(
                    "NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR",
                    "The combination of inventoryItemId and locationId must be unique.",
                    *at,
                    "inventoryItemId",
                )
                continue
            seen.add((variant.inventory_item_id, loc.id))
            if quantity < 0:
                error("INVALID_QUANTITY_NEGATIVE", "The quantity can't be negative.", *at, "quantity")
                continue
            if quantity > 1_000_000_000:
                error("INVALID_QUANTITY_TOO_HIGH", "The quantity can't be higher than 1,000,000,000.", *at, "quantity")
                continue
            if quantity < -1_000_000_000:
                error("INVALID_QUANTITY_TOO_LOW", "The quantity can't be lower than -1,000,000,000.", *at, "quantity")
                continue
            persisted = level.available if input.get("name") != "on_hand" else level.available + level.committed
            if not ignore:
                compare = row.get("compareQuantity")
                if compare is None:
                    error(
                        "COMPARE_QUANTITY_REQUIRED",
                        "The compareQuantity argument must be given to each quantity or ignored using "
                        "ignoreCompareQuantity.",
                        *at,
                        "compareQuantity",
                    )
                    continue
                if compare != persisted:
                    error(
                        "COMPARE_QUANTITY_STALE",
                        "The compareQuantity value does not match persisted value.",
                        *at,
                        "compareQuantity",
                    )
                    continue
            targets.append((variant, loc, quantity))
        if errors:
            return {"inventoryAdjustmentGroup": None, "userErrors": errors}
        changes: list[tuple[str, int, int, Variant, Location]] = []
        for variant, loc, quantity in targets:
            level = sim.levels[(variant.inventory_item_id, loc.id)]
            before = level.available if input.get("name") != "on_hand" else level.available + level.committed
            delta = quantity - before
            if delta == 0:
                continue
            level.available += delta
            level.updated_at = sim.now()
            for name, after in (("available", level.available), ("on_hand", level.available + level.committed)):
                changes.append((name, delta, after, variant, loc))
        group = {
            "id": gid("InventoryAdjustmentGroup", sim.next_id("InventoryAdjustmentGroup")),
            "reason": input["reason"],
            "referenceDocumentUri": ref,
            "createdAt": iso(sim.now()),
            "items": len(targets),
        }
        sim.adjustment_groups.append(group)
        view = dict(group)
        view["changes"] = [self._change_view(*change) for change in changes]
        return {"inventoryAdjustmentGroup": view, "userErrors": []}

    def _change_view(self, name: str, delta: int, after: int, variant: Variant, loc: Location) -> dict[str, Any]:
        return {
            "name": name,
            "delta": delta,
            "quantityAfterChange": after,
            "ledgerDocumentUri": None,
            "item": lambda info: self.item_view(variant),
            "location": lambda info: self.location_view(loc),
        }
