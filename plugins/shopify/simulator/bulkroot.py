"""Bulk operation root fields: ``bulkOperationRunQuery``, ``bulkOperationCancel``,
``currentBulkOperation`` and ``node(id:)`` (for bulk operations; any other node is refused loudly)."""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, OperationDefinitionNode

from kade.plugins.shopify.simulator.bulkquery import bulk_query_problem, executed_lines
from kade.plugins.shopify.simulator.inventory import _InventoryRoot
from kade.plugins.shopify.simulator.models import _require_gid, load_schema
from kade.plugins.shopify.simulator.strict import not_implemented
from kade.plugins.shopify.simulator.synthetic import synthetic_lines


def _user_error(code: str, message: str, field: list[str] | None = None) -> dict[str, Any]:
    return {"bulkOperation": None, "userErrors": [{"code": code, "field": field, "message": message}]}


class _BulkRoot(_InventoryRoot):
    """Bulk query operations of the calling app (``app`` is set per request)."""

    app: str = ""

    def bulkOperationRunQuery(self, info: Any, query: str) -> dict[str, Any]:
        sim = self.sim
        with sim.lock:
            running = sim.running_bulk_operation(self.app)
            if running is not None:
                return _user_error(
                    "OPERATION_IN_PROGRESS",
                    f"A bulk query operation for this app and shop is already in progress: {running.id}.",
                )
            schema = load_schema()
            document, problem = bulk_query_problem(schema, query)
            if document is None:
                return _user_error("INVALID", problem or "Invalid bulk query", ["query"])
            synthetic = getattr(sim, "synthetic", None)
            if synthetic is not None:
                op_ast = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
                roots = [s for s in op_ast.selection_set.selections if isinstance(s, FieldNode)]
                try:
                    if len(roots) != 1:
                        raise ValueError("a shop with a synthetic catalogue exports one connection")
                    lines = synthetic_lines(synthetic, list(sim.locations.values()), roots[0])
                except ValueError as exc:
                    raise not_implemented(f"this bulk query on a synthetic catalogue ({exc})") from None
            else:
                lines = executed_lines(schema, document, type(self)(sim))
            op = sim.start_bulk_operation(self.app, query, lines)
            return {"bulkOperation": sim.bulk_view(op), "userErrors": []}

    def bulkOperationCancel(self, info: Any, id: str) -> dict[str, Any]:
        sim = self.sim
        number = _require_gid(id, "BulkOperation")
        op = sim.bulk_operations.get(number or 0)
        if op is None or op.app != self.app:
            error = {"field": ["id"], "message": "Bulk operation does not exist"}
            return {"bulkOperation": None, "userErrors": [error]}
        if op.status in ("COMPLETED", "FAILED", "CANCELED", "EXPIRED"):
            return {"bulkOperation": sim.bulk_view(op), "userErrors": [
                {"field": None, "message": f"A bulk operation cannot be canceled when it is {op.status.lower()}"}]}
        sim.cancel_bulk_operation(op)
        return {"bulkOperation": sim.bulk_view(op), "userErrors": []}

    def currentBulkOperation(self, info: Any, type: str = "QUERY") -> dict[str, Any] | None:
        if type != "QUERY":
            return None  # the simulator runs no bulk mutations, so there is no current one
        op = self.sim.current_bulk_operation(self.app)
        return self.sim.bulk_view(self.sim.poll_bulk_operation(op)) if op is not None else None

    def node(self, info: Any, id: str) -> dict[str, Any] | None:
        if not str(id).startswith("gid://shopify/BulkOperation/"):
            raise not_implemented(f"node(id:) for {id!r} (only bulk operations)")
        op = self.sim.bulk_operations.get(_require_gid(id, "BulkOperation") or 0)
        if op is None or op.app != self.app:
            return None
        return self.sim.bulk_view(self.sim.poll_bulk_operation(op))
