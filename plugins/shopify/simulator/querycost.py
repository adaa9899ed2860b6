"""Shopify's calculated query cost: requested (before) and actual (after execution)."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    value_from_ast_untyped,
)


class _Cost:
    """Shopify's calculated query cost from the schema: objects 1, connections 2 + page × node,
    leaves 0, mutations 10 per root field; ``actual`` counts what was really returned."""

    def __init__(self, schema: GraphQLSchema, document: Any, variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}

    def requested(self, op: OperationDefinitionNode) -> int:
        if op.operation == OperationType.MUTATION:
            return 10 * len(self._fields(self.schema.mutation_type, op.selection_set))
        return self._selection(self.schema.query_type, op.selection_set, None, actual=False)

    def actual(self, op: OperationDefinitionNode, data: Any) -> int:
        if op.operation == OperationType.MUTATION:
            return self.requested(op)
        return self._selection(self.schema.query_type, op.selection_set, data, actual=True)

    def _fields(self, parent: Any, selection: SelectionSetNode) -> list[tuple[Any, FieldNode]]:
        out: list[tuple[Any, FieldNode]] = []
        for node in selection.selections:
            if isinstance(node, FieldNode):
                out.append((parent, node))
            elif isinstance(node, InlineFragmentNode):
                cond = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                out.extend(self._fields(cond, node.selection_set))
            elif isinstance(node, FragmentSpreadNode):
                frag = self.fragments[node.name.value]
                out.extend(self._fields(self.schema.get_type(frag.type_condition.name.value), frag.selection_set))
        return out

    def _selection(self, parent: Any, selection: SelectionSetNode, data: Any, *, actual: bool) -> int:
        total = 0
        for owner, node in self._fields(parent, selection):
            name = node.name.value
            if name.startswith("__"):
                continue
            field_def = owner.fields[name]
            key = node.alias.value if node.alias else name
            value = data.get(key) if isinstance(data, dict) else None
            total += self._field(field_def, node, value, actual=actual)
        return total

    def _field(self, field_def: Any, node: FieldNode, value: Any, *, actual: bool) -> int:
        named = get_named_type(field_def.type)
        if is_leaf_type(named) or node.selection_set is None:
            return 0
        if actual and value is None:
            return 0
        args = {a.name.value: value_from_ast_untyped(a.value, self.variables) for a in node.arguments or ()}
        size = args.get("first") or args.get("last") or 0
        if not isinstance(size, int):
            size = 0
        if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection"):
            best = 0
            for owner, child in self._fields(named, node.selection_set):
                child_name = child.name.value
                key = child.alias.value if child.alias else child_name
                if child_name == "nodes" and child.selection_set is not None:
                    node_type = get_named_type(owner.fields["nodes"].type)
                    if actual:
                        items = value.get(key) or []
                        cost = sum(1 + self._selection(node_type, child.selection_set, i, actual=True) for i in items)
                    else:
                        cost = size * (1 + self._selection(node_type, child.selection_set, None, actual=False))
                    best = max(best, cost)
                elif child_name == "edges" and child.selection_set is not None:
                    edge_type = get_named_type(owner.fields["edges"].type)
                    for _, inner in self._fields(edge_type, child.selection_set):
                        if inner.name.value != "node" or inner.selection_set is None:
                            continue
                        node_type = get_named_type(edge_type.fields["node"].type)
                        inner_key = inner.alias.value if inner.alias else "node"
                        if actual:
                            edges = value.get(key) or []
                            cost = sum(
                                1 + self._selection(node_type, inner.selection_set, e.get(inner_key), actual=True)
                                for e in edges
                            )
                        else:
                            cost = size * (1 + self._selection(node_type, inner.selection_set, None, actual=False))
                        best = max(best, cost)
            return 2 + best
        inner_type = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
        if isinstance(inner_type, GraphQLList):
            if actual:
                return sum(1 + self._selection(named, node.selection_set, v, actual=True) for v in value if v)
            return (size or 1) * (1 + self._selection(named, node.selection_set, None, actual=False))
        return 1 + self._selection(named, node.selection_set, value, actual=actual)


# ============================================================================== resolvers

