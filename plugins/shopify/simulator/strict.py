"""A field the simulator does not implement is a loud GraphQL error, never a quiet null.

graphql-core's default resolver answers ``null`` for a root field the root value lacks and for
a key a view leaves out; against a schema of thousands of fields that would let a plugin pass
tests on data the real Shopify would have sent. Here both are errors naming the field.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, default_field_resolver

NOT_IMPLEMENTED = "NOT_IMPLEMENTED"


def not_implemented(what: str) -> GraphQLError:
    return GraphQLError(f"the Shopify simulator does not implement {what}", extensions={"code": NOT_IMPLEMENTED})


def strict_resolver(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    name = info.field_name
    if isinstance(source, dict):
        if name not in source:
            raise not_implemented(f"{info.parent_type.name}.{name}")
    elif (source is not None and info.parent_type in (info.schema.query_type, info.schema.mutation_type)
          and not callable(getattr(source, name, None))):
        raise not_implemented(f"{info.parent_type.name}.{name}")
    return default_field_resolver(source, info, **args)
