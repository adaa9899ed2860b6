"""Every exchange the simulator serves, checked against Magento's official 2.4.9 admin REST spec.

The spec is Swagger 2.0; its schemas are JSON Schema draft 4 with ``#/definitions`` references,
so ``jsonschema`` checks bodies directly. A request that breaks the spec (an undeclared query
parameter, a body missing a required field, a wrong type) is answered with a loud 400 naming
the rule, so a plugin bug cannot hide behind a lenient simulator; an answer of the simulator
that breaks it raises ``SpecViolation``, because then the simulator itself is wrong.

One documented deviation: the spec types ``error-response.parameters`` as an array of objects,
but Magento's ``ErrorProcessor`` sends the exception's parameters as they are — a list of
strings for ``%1`` placeholders, an object for named ones (``%resources``). Answers follow the
wire; the check accepts those two shapes for that one field and counts them.

Hostile-input tests break records on purpose (``MagentoState.malform``); an answer carrying
one is checked too, but a violation there is counted (``off_spec``) instead of raised.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

EXTRACT = Path(__file__).with_name("admin-2.4.9-subset.json.gz")

#: the wire shapes of ``error-response.parameters`` (see the module docstring)
WIRE_PARAMETERS: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "items": {"type": ["string", "number", "integer", "boolean"]}},
        {"type": "object", "additionalProperties": {"type": ["string", "number", "integer", "boolean"]}},
    ]
}

#: query parameter spellings Magento accepts beside the spec's camelCase ones
_SNAKE = {
    "filter_groups": "filterGroups",
    "sort_orders": "sortOrders",
    "condition_type": "conditionType",
    "page_size": "pageSize",
    "current_page": "currentPage",
}
#: ``?fields=`` response filtering works on every operation (not in the spec's parameter lists)
_GLOBAL_QUERY = {"fields"}


class SpecViolation(AssertionError):
    """The simulator answered something the official spec does not allow."""


class RequestViolation(ValueError):
    """A request the official spec does not allow; the simulator answers it with a 400."""


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    operation_id: str
    regex: re.Pattern[str]
    definition: dict[str, Any]

    def path_params(self, path: str) -> dict[str, str]:
        match = self.regex.match(path)
        return match.groupdict() if match else {}


@cache
def load_spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(EXTRACT.read_bytes()))
    return data


def _operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for template, methods in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        for method, definition in methods.items():
            found.append(Operation(method.upper(), template, definition["operationId"], re.compile(pattern),
                                   definition))
    # literal segments before placeholders: /V1/inventory/source-items before /V1/products/{sku}
    found.sort(key=lambda op: op.template.count("{"))
    return found


def _normalise_query_name(name: str) -> str:
    """``searchCriteria[filter_groups][3][filters][1][field]`` → the spec's index-0 camelCase name."""
    name = re.sub(r"\[\d+\]", "[0]", name)
    for snake, camel in _SNAKE.items():
        name = name.replace(f"[{snake}]", f"[{camel}]")
    return name


def _check_scalar(kind: str | None, value: str) -> bool:
    if kind == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if kind == "number":
        return re.fullmatch(r"-?\d+(\.\d+)?", value) is not None
    if kind == "boolean":
        return value in ("true", "false", "1", "0")
    return True


@dataclass
class SpecCheck:
    """Matches exchanges to operations and validates them; counts what it checked."""

    spec: dict[str, Any] = field(default_factory=load_spec)
    #: (operationId, status) → exchanges validated
    checked: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: error answers whose ``parameters`` used the wire shape instead of the spec's
    wire_parameters: int = 0
    #: answers carrying a record broken on purpose that the spec would refuse (hostile-input tests)
    off_spec: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.operations = _operations(self.spec)
        self._validators: dict[str, Any] = {}

    @property
    def exchanges(self) -> int:
        return sum(self.checked.values())

    @property
    def operation_ids(self) -> set[str]:
        return {op for op, _ in self.checked}

    def match(self, method: str, path: str) -> Operation | None:
        """The operation for ``/V1/...`` (store code and ``/rest`` already stripped), or None."""
        for op in self.operations:
            if op.method == method and op.regex.match(path):
                return op
        return None

    def known_path(self, path: str) -> bool:
        return any(op.regex.match(path) for op in self.operations)

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            import jsonschema

            root = {**schema, "definitions": self._definitions()}
            validator = jsonschema.Draft4Validator(root)
            self._validators[key] = validator
        return validator

    def _definitions(self) -> dict[str, Any]:
        definitions = dict(self.spec["definitions"])
        error = json.loads(json.dumps(definitions["error-response"]))
        error["properties"]["parameters"] = WIRE_PARAMETERS
        errors_item = json.loads(json.dumps(definitions["error-errors-item"]))
        errors_item["properties"]["parameters"] = WIRE_PARAMETERS
        definitions["error-response"] = error
        definitions["error-errors-item"] = errors_item
        return definitions

    @staticmethod
    def _first_error(validator: Any, instance: Any) -> str | None:
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if not errors:
            return None
        error = errors[0]
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"{error.message} at {where}"

    def check_request(self, op: Operation, path: str, query: list[tuple[str, str]], body: Any) -> None:
        """Raise ``RequestViolation`` naming the first rule the request breaks."""
        params = op.definition.get("parameters", [])
        declared = {p["name"]: p for p in params if p["in"] == "query"}
        for name, value in query:
            if name in _GLOBAL_QUERY:
                continue
            spec_name = _normalise_query_name(name)
            param = declared.get(spec_name)
            if param is None:
                raise RequestViolation(f'query parameter "{name}" is not declared for {op.operation_id}')
            if not _check_scalar(param.get("type"), value):
                raise RequestViolation(f'query parameter "{name}" must be {param.get("type")}, not "{value}"')
        for param in params:
            if param["in"] == "path":
                value = op.path_params(path).get(param["name"], "")
                if not _check_scalar(param.get("type"), value):
                    raise RequestViolation(f'path parameter "{param["name"]}" must be {param.get("type")}')
        body_param = next((p for p in params if p["in"] == "body"), None)
        if body_param is None:
            if body not in (None, b"", {}):
                raise RequestViolation(f"{op.operation_id} takes no request body")
            return
        if body is None:
            if body_param.get("required"):
                raise RequestViolation(f"{op.operation_id} needs a request body")
            return
        problem = self._first_error(self._validator(body_param["schema"]), body)
        if problem is not None:
            raise RequestViolation(f"request body of {op.operation_id}: {problem}")

    def check_response(self, op: Operation, status: int, body: Any) -> None:
        """Raise ``SpecViolation`` when an answer does not fit the documented responses."""
        responses = op.definition["responses"]
        documented = responses.get(str(status))
        if documented is None:
            success = any(code.startswith("2") for code in responses)
            if 200 <= status < 300 and not success:
                # e.g. POST /V1/inventory/source-items documents no success body: it answers []
                if body != []:
                    raise SpecViolation(f"{op.operation_id} → {status}: undocumented success body {body!r}")
                self._count(op, status)
                return
            documented = responses.get("default")
        if documented is None:
            raise SpecViolation(f"{op.operation_id} does not document status {status}")
        schema = documented.get("schema")
        if schema is not None:
            problem = self._first_error(self._validator(schema), body)
            if problem is not None:
                raise SpecViolation(f"{op.operation_id} → {status}: {problem}")
            if status >= 400 and isinstance(body, dict) and "parameters" in body:
                with self._lock:
                    self.wire_parameters += 1
        self._count(op, status)

    def tolerate(self, op: Operation, status: int, body: Any) -> None:
        """Check an answer that carries a deliberately broken record: counted, never raised."""
        try:
            self.check_response(op, status, body)
        except SpecViolation:
            with self._lock:
                self.off_spec += 1

    def _count(self, op: Operation, status: int) -> None:
        with self._lock:
            self.checked[(op.operation_id, status)] += 1
