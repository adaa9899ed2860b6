"""The GraphQL root value (every resolver) and ``orderCancel``."""

from __future__ import annotations

from typing import Any

from kade.plugins.shopify.simulator.bulkroot import _BulkRoot
from kade.plugins.shopify.simulator.models import CANCEL_JOB_SECONDS, Job, parse_gid


class _Root(_BulkRoot):
    """Root value for both operation types: attribute names are the root fields."""


    def orderCancel(
        self,
        info: Any,
        orderId: str,
        refund: bool,
        restock: bool,
        reason: str,
        notifyCustomer: bool | None = None,
        staffNote: str | None = None,
    ) -> dict[str, Any]:
        sim = self.sim
        number = parse_gid(orderId, "Order")
        order = sim.orders.get(number) if number else None

        def fail(code: str, message: str) -> dict[str, Any]:
            error = {"code": code, "field": ["orderId"], "message": message}
            return {
                "job": None,
                "orderCancelUserErrors": [error],
                "userErrors": [{"field": ["orderId"], "message": message}],
            }

        if order is None:
            return fail("NOT_FOUND", "Order does not exist.")
        if order.cancelled_at is not None:
            return fail("INVALID", "Order has already been cancelled.")
        if any(f.status == "SUCCESS" for f in order.fulfillments):
            return fail("INVALID", "Cannot cancel an order with fulfillments; cancel the fulfillments first.")
        job = Job(
            id=f"gid://shopify/Job/{sim.uuid()}",
            ready_at=sim.clock.now() + CANCEL_JOB_SECONDS,
            action=lambda: sim._apply_cancel(order, reason=reason, restock=restock, refund=refund),
        )
        sim.jobs[job.id] = job
        return {
            "job": {"__typename": "Job", "id": job.id, "done": False, "query": None},
            "orderCancelUserErrors": [],
            "userErrors": [],
        }


# ============================================================================== REST payloads

