"""The simulated shop (``SimState``): GraphQL execution with Shopify's cost accounting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)

from kade.plugins.shopify.simulator.bulkops import BulkState
from kade.plugins.shopify.simulator.models import RATE_LIMIT_DOCS, Bucket, load_schema
from kade.plugins.shopify.simulator.querycost import _Cost
from kade.plugins.shopify.simulator.root import _Root
from kade.plugins.shopify.simulator.strict import strict_resolver


class SimState(BulkState):
    """Everything the simulated shop knows. Thread-safe: the app and the tests share it."""

    # ------------------------------------------------------------------ cost bucket

    def bucket(self, app: str) -> Bucket:
        now = self.clock.now()
        bucket = self.buckets.setdefault(app, Bucket(self.bucket_size, now))
        bucket.available = min(self.bucket_size, bucket.available + (now - bucket.at) * self.restore_rate)
        bucket.at = now
        return bucket

    def throttle_status(self, bucket: Bucket) -> dict[str, float]:
        return {
            "maximumAvailable": self.bucket_size,
            "currentlyAvailable": int(bucket.available),
            "restoreRate": self.restore_rate,
        }

    # ------------------------------------------------------------------ GraphQL

    def _checked(self, schema: GraphQLSchema, query: str) -> tuple[DocumentNode | None, list[Any]]:
        """Parse and validate ``query`` once; clients send the same few documents again and again."""
        cached = self._validated.get(query)
        if cached is None:
            try:
                document = parse(query)
            except GraphQLError as exc:
                cached = (None, [exc.formatted])
            else:
                errors = validate(schema, document)
                cached = (None, [e.formatted for e in errors]) if errors else (document, [])
            if len(self._validated) >= 512:
                self._validated.clear()
            self._validated[query] = cached
        return cached

    def execute(
        self,
        app: str,
        query: str,
        variables: Mapping[str, Any] | None,
        operation: str | None,
        *,
        short_by: float | None = None,
    ) -> dict[str, Any]:
        """Run one GraphQL request for ``app`` the way Shopify does, cost accounting included.

        ``short_by`` (seconds) first empties the bucket to that many seconds of restore below
        this query's cost, so it is answered THROTTLED (the ``"throttle"`` fault).
        """
        schema = load_schema()
        with self.lock:
            self.run_due_jobs()
            self.graphql_requests += 1
            self.documents[query] = self.documents.get(query, 0) + 1
            document, problems = self._checked(schema, query)
            if document is None:
                return {"errors": problems}
            op = get_operation_ast(document, operation)
            if op is None:
                return {
                    "errors": [
                        {
                            "message": f"No operation named '{operation}'"
                            if operation
                            else "An operation name is required"
                        }
                    ]
                }
            costing = _Cost(schema, document, dict(variables or {}))
            try:
                requested = costing.requested(op)
            except GraphQLError as exc:
                return {"errors": [exc.formatted]}
            if requested > self.max_query_cost:
                return {
                    "errors": [
                        {
                            "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                            f"({self.max_query_cost}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": requested,
                                "maxCost": self.max_query_cost,
                                "documentation": RATE_LIMIT_DOCS,
                            },
                        }
                    ]
                }
            bucket = self.bucket(app)
            if short_by is not None:
                bucket.available = max(0.0, requested - max(short_by * self.restore_rate, 1.0))
            if bucket.available < requested:
                self.throttled += 1
                return {
                    "errors": [
                        {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}
                    ],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": requested,
                            "actualQueryCost": None,
                            "throttleStatus": self.throttle_status(bucket),
                        }
                    },
                }
            bucket.available -= requested
            root = _Root(self)
            root.app = app
            result = execute_sync(
                schema,
                document,
                root_value=root,
                field_resolver=strict_resolver,
                variable_values=dict(variables or {}),
                operation_name=operation,
            )
            actual = costing.actual(op, result.data) if result.data is not None else 0
            bucket.available = min(self.bucket_size, bucket.available + max(0, requested - actual))
            response: dict[str, Any] = {}
            if result.errors:
                response["errors"] = [e.formatted for e in result.errors]
            response["data"] = result.data
            response["extensions"] = {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": actual,
                    "throttleStatus": self.throttle_status(bucket),
                }
            }
            return response


# ============================================================================== query cost
