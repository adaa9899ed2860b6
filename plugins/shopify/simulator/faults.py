"""Faults aimed at GraphQL operations; ``kade.sim.faults.FaultLayer`` applies them.

Every Shopify call goes to one path, so a fault names what it hits by operation name or root
field (``fulfillmentCreate``), read from the request body.
"""

from __future__ import annotations

import json
import re

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse

from kade.plugins.shopify.queries import GRAPHQL_PATH
from kade.plugins.shopify.simulator.orders import OrderState
from kade.sim.base import ScriptedFault

#: this simulator's fault names → the fault layer's kinds (``throttle`` is done by ``execute``)
FAULT_KINDS = {
    "error": "error",
    "timeout_before": "timeout",
    "timeout_after": "timeout_after_apply",
    "throttle": "throttle",
}


class FaultState(OrderState):
    """Scripted faults by operation name or root field."""

    def inject_fault(self, target: str, kind: str, *, times: int = 1) -> ScriptedFault:
        """Fail the next ``times`` requests that run ``target`` (an operation name, a root field
        such as ``fulfillmentCreate``, or ``"*"`` for any): ``"error"`` answers 500 without doing
        the work, ``"timeout_before"`` loses the request, ``"timeout_after"`` does the work and
        loses the answer, ``"throttle"`` empties the cost bucket so Shopify answers THROTTLED.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        return self.scripted_faults.add(ScriptedFault(
            FAULT_KINDS[kind], re.escape(GRAPHQL_PATH) + "$", "POST", status=500, count=times, operation=target))


def operation_names(body: bytes) -> frozenset[str]:
    """The operation name and root fields a GraphQL request body runs (empty: not a GraphQL call)."""
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        return frozenset()
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return frozenset()
    operation = payload.get("operationName")
    names = {operation} if isinstance(operation, str) and operation else set()
    try:
        definitions = parse(payload["query"]).definitions
    except GraphQLError:
        definitions = ()
    for definition in definitions:
        if isinstance(definition, OperationDefinitionNode):
            names.update(sel.name.value for sel in definition.selection_set.selections if isinstance(sel, FieldNode))
    # a GraphQL call whose names cannot be read still counts as one, for "*"
    return frozenset(names) or frozenset({""})
