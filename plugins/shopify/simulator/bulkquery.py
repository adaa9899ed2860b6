"""The query a bulk operation runs: Shopify's rules for it, and its result as JSONL lines.

A bulk query has no variables and no paging arguments that matter: every connection is read to
the end. Each node of a connection becomes one JSONL line; a node of a nested connection gets
``__parentId``, the ``id`` of the node it hangs under (so that parent must select ``id``).
Shopify allows at most five connections and two levels of nesting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute_sync,
    get_named_type,
    parse,
    validate,
)

from kade.plugins.shopify.simulator.bulkops import jsonl
from kade.plugins.shopify.simulator.paging import BULK_EXPORT
from kade.plugins.shopify.simulator.strict import strict_resolver

MAX_CONNECTIONS = 5
MAX_NESTING = 2


def _is_connection(type_: Any) -> bool:
    named = get_named_type(type_)
    return isinstance(named, GraphQLObjectType) and named.name.endswith("Connection")


def _node_selection(field: FieldNode, conn_type: GraphQLObjectType) -> tuple[GraphQLObjectType, SelectionSetNode]:
    """The node type and selection of a connection field (``edges { node }`` or ``nodes``)."""
    for sel in field.selection_set.selections if field.selection_set else ():
        if not isinstance(sel, FieldNode) or sel.selection_set is None:
            continue
        if sel.name.value == "nodes":
            return get_named_type(conn_type.fields["nodes"].type), sel.selection_set
        if sel.name.value == "edges":
            edge_type = get_named_type(conn_type.fields["edges"].type)
            for inner in sel.selection_set.selections:
                if isinstance(inner, FieldNode) and inner.name.value == "node" and inner.selection_set:
                    return get_named_type(edge_type.fields["node"].type), inner.selection_set
    raise ValueError(f"the connection {field.name.value} selects no nodes")


def bulk_query_problem(schema: GraphQLSchema, query: str) -> tuple[DocumentNode | None, str | None]:
    """Parse and check a bulk query; returns the document, or the reason Shopify would refuse it."""
    try:
        document = parse(query)
    except GraphQLError as exc:
        return None, f"Invalid bulk query: {exc.message}"
    errors = validate(schema, document)
    if errors:
        return None, "Invalid bulk query: " + "; ".join(e.message for e in errors)
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(ops) != 1 or ops[0].operation != OperationType.QUERY:
        return None, "Invalid bulk query: a bulk query is exactly one query operation"
    if ops[0].variable_definitions:
        return None, "Invalid bulk query: bulk queries cannot take variables"
    counted = [0]

    def walk(parent: GraphQLObjectType, selection: SelectionSetNode, depth: int) -> str | None:
        for sel in selection.selections:
            if not isinstance(sel, FieldNode) or sel.name.value.startswith("__"):
                if not isinstance(sel, FieldNode):
                    return "Invalid bulk query: fragments are not supported by the simulator's bulk queries"
                continue
            field_def = parent.fields[sel.name.value]
            if _is_connection(field_def.type):
                counted[0] += 1
                if depth >= MAX_NESTING:  # the root connection is the first level
                    return f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_NESTING}."
                try:
                    node_type, node_sel = _node_selection(sel, get_named_type(field_def.type))
                except ValueError as exc:
                    return f"Invalid bulk query: {exc}"
                has_id = any(isinstance(s, FieldNode) and s.name.value == "id" for s in node_sel.selections)
                nested = any(
                    isinstance(s, FieldNode) and s.name.value in node_type.fields
                    and _is_connection(node_type.fields[s.name.value].type)
                    for s in node_sel.selections
                )
                if nested and not has_id:
                    return f"The parent 'node' field for a nested connection must select the 'id' field. " \
                           f"Connection field: '{sel.name.value}'"
                problem = walk(node_type, node_sel, depth + 1)
            elif sel.selection_set is not None:
                if depth == 0:
                    return "Invalid bulk query: the simulator runs bulk queries whose root fields are connections"
                problem = walk(get_named_type(field_def.type), sel.selection_set, depth)
            else:
                problem = None
            if problem:
                return problem
        return None

    assert schema.query_type is not None
    problem = walk(schema.query_type, ops[0].selection_set, 0)
    if problem is None and counted[0] == 0:
        problem = "Bulk queries must contain at least one connection."
    if problem is None and counted[0] > MAX_CONNECTIONS:
        problem = f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
    return (None, problem) if problem else (document, None)


def _nodes(value: Any) -> list[Any] | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("nodes"), list):
        return list(value["nodes"])
    if isinstance(value.get("edges"), list):
        return [edge.get("node") for edge in value["edges"] if isinstance(edge, dict)]
    return None


def _flatten(node: dict[str, Any], parent: str | None) -> Iterator[dict[str, Any]]:
    line: dict[str, Any] = {}
    children: list[list[Any]] = []
    for key, value in node.items():
        nested = _nodes(value)
        if nested is not None:
            children.append(nested)
        else:
            line[key] = value
    if parent is not None:
        line["__parentId"] = parent
    yield line
    for nested in children:
        for child in nested:
            if isinstance(child, dict):
                yield from _flatten(child, str(node.get("id")))


def executed_lines(schema: GraphQLSchema, document: DocumentNode, root: Any) -> Callable[[], Iterator[str]]:
    """The JSONL lines of ``document`` run on the shop's state (small shops: executed in one go)."""

    def lines() -> Iterator[str]:
        token = BULK_EXPORT.set(True)
        try:
            result = execute_sync(schema, document, root_value=root, field_resolver=strict_resolver)
        finally:
            BULK_EXPORT.reset(token)
        if result.errors:
            raise RuntimeError("; ".join(e.message for e in result.errors))
        for value in (result.data or {}).values():
            for node in _nodes(value) or ():
                if isinstance(node, dict):
                    for line in _flatten(node, None):
                        yield jsonl(line)

    return lines
