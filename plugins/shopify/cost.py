"""Estimate a GraphQL document's requested cost the way Shopify calculates it, without a schema.

The client needs the cost *before* sending, to decide whether the query fits in the leaky
bucket (and to wait or back off instead of burning a request on THROTTLED). Shopify's rules
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits): scalars and enums cost 0,
objects 1, a connection 2 plus its page size times the cost of one node, and a mutation 10.
Connections are recognised by their ``nodes``/``edges`` selection, lists of objects by a
``first``/``last`` argument. A test checks these estimates against the simulator, which
computes the cost from the real schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MUTATION_COST = 10
CONNECTION_COST = 2

_TOKEN = re.compile(
    r'"""(?:.|\n)*?"""|"(?:\\.|[^"\\])*"|\.\.\.|[{}():$!\[\]=@,]|-?\d+(?:\.\d+)?|[_A-Za-z][_0-9A-Za-z]*'
)
_IGNORED = re.compile(r"(?:[\s,]+|#[^\n]*)+")


@dataclass
class _Field:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    selection: list[_Field | _Spread] | None = None


@dataclass
class _Spread:
    """A fragment spread (``fragment`` set) or an inline fragment (``selection`` set)."""

    fragment: str | None = None
    selection: list[_Field | _Spread] | None = None


class _Variable(str):
    """A ``$name`` reference inside an argument value."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            skip = _IGNORED.match(text, pos)
            if skip:
                pos = skip.end()
                continue
            tok = _TOKEN.match(text, pos)
            if tok is None:
                raise ValueError(f"unexpected character {text[pos]!r} at {pos}")
            self.tokens.append(tok.group())
            pos = tok.end()
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"expected {expected or 'a token'}, found {tok!r}")
        self.i += 1
        return tok

    def skip_balanced(self, opening: str, closing: str) -> None:
        depth = 0
        while True:
            tok = self.take()
            depth += tok == opening
            depth -= tok == closing
            if depth == 0:
                return

    def value(self) -> Any:
        tok = self.take()
        if tok == "$":
            return _Variable(self.take())
        if tok == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if tok == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if tok.startswith('"'):
            return tok.strip('"')
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        return tok

    def directives(self) -> None:
        while self.peek() == "@":
            self.take("@")
            self.take()
            if self.peek() == "(":
                self.skip_balanced("(", ")")

    def selection_set(self) -> list[_Field | _Spread]:
        self.take("{")
        items: list[_Field | _Spread] = []
        while self.peek() != "}":
            if self.peek() == "...":
                self.take("...")
                if self.peek() == "on":
                    self.take("on")
                    self.take()
                    self.directives()
                    items.append(_Spread(selection=self.selection_set()))
                elif self.peek() in ("{", "@"):
                    self.directives()
                    items.append(_Spread(selection=self.selection_set()))
                else:
                    items.append(_Spread(fragment=self.take()))
                    self.directives()
                continue
            name = self.take()
            if self.peek() == ":":
                self.take(":")
                name = self.take()
            fld = _Field(name)
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    key = self.take()
                    self.take(":")
                    fld.args[key] = self.value()
                self.take(")")
            self.directives()
            if self.peek() == "{":
                fld.selection = self.selection_set()
            items.append(fld)
        self.take("}")
        return items


@dataclass
class _Document:
    operation: str = "query"
    selection: list[_Field | _Spread] = field(default_factory=list)
    fragments: dict[str, list[_Field | _Spread]] = field(default_factory=dict)


def _parse(text: str) -> _Document:
    parser = _Parser(text)
    doc = _Document()
    found = False
    while parser.peek() is not None:
        tok = parser.peek()
        if tok == "fragment":
            parser.take()
            name = parser.take()
            parser.take("on")
            parser.take()
            parser.directives()
            doc.fragments[name] = parser.selection_set()
            continue
        if tok in ("query", "mutation", "subscription"):
            doc.operation = parser.take()
            if parser.peek() not in ("(", "{", "@"):
                parser.take()
            if parser.peek() == "(":
                parser.skip_balanced("(", ")")
            parser.directives()
        if found:
            raise ValueError("a document with several operations needs an operation name")
        doc.selection = parser.selection_set()
        found = True
    if not found:
        raise ValueError("document has no operation")
    return doc


class _Costing:
    def __init__(self, doc: _Document, variables: Mapping[str, Any]) -> None:
        self.doc = doc
        self.variables = variables

    def arg(self, fld: _Field, name: str) -> int | None:
        value = fld.args.get(name)
        if isinstance(value, _Variable):
            value = self.variables.get(str(value))
        return value if isinstance(value, int) else None

    def flatten(self, selection: list[_Field | _Spread]) -> list[_Field]:
        fields: list[_Field] = []
        for item in selection:
            if isinstance(item, _Field):
                fields.append(item)
            elif item.fragment is not None:
                fields.extend(self.flatten(self.doc.fragments[item.fragment]))
            elif item.selection is not None:
                fields.extend(self.flatten(item.selection))
        return fields

    def selection(self, selection: list[_Field | _Spread]) -> int:
        return sum(self.field(f) for f in self.flatten(selection))

    def field(self, fld: _Field) -> int:
        if fld.selection is None:
            return 0
        size = self.arg(fld, "first") or self.arg(fld, "last")
        children = self.flatten(fld.selection)
        names = {c.name for c in children}
        if names & {"nodes", "edges"}:
            return CONNECTION_COST + (size or 0) * self.node_cost(children)
        if size is not None:
            return size * (1 + self.selection(fld.selection))
        return 1 + self.selection(fld.selection)

    def node_cost(self, children: list[_Field]) -> int:
        best = 0
        for child in children:
            if child.name == "nodes" and child.selection is not None:
                best = max(best, 1 + self.selection(child.selection))
            elif child.name == "edges" and child.selection is not None:
                for inner in self.flatten(child.selection):
                    if inner.name == "node" and inner.selection is not None:
                        best = max(best, 1 + self.selection(inner.selection))
        return best


def requested_cost(document: str, variables: Mapping[str, Any] | None = None) -> int:
    """The cost Shopify will reserve for ``document`` with ``variables`` before running it."""
    doc = _parse(document)
    costing = _Costing(doc, variables or {})
    if doc.operation == "mutation":
        return MUTATION_COST * len(costing.flatten(doc.selection))
    return costing.selection(doc.selection)
