"""Every exchange checked against Shopware's official Admin API description (OpenAPI 3.1).

Given the spec file (``shopware/admin-api-reference`` ``adminapi.json``), the checker matches each
request to its operation and validates the JSON request body and the response body against the
operation's schemas, and the status against the documented ones (an error status the spec does not
list must still carry the ``failure`` envelope). It counts what it checked and keeps every
violation, so tests can assert none and report the figures.

PATCH bodies are partial updates (the operations say so), so the entity's ``required`` list is
not applied to them. Shopware serialises unset fields and unloaded associations as ``null``, which the spec's types do
not allow; nulls are dropped before validating. ``jsonschema`` is imported only when a checker is
made (it is a test dependency).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


@dataclass
class SpecReport:
    requests: int = 0
    responses: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.requests} requests and {self.responses} responses checked over {len(self.operations)} "
                f"operations, {len(self.violations)} violations")


class SpecChecker:
    def __init__(self, path: Path) -> None:
        import jsonschema

        self.spec: JSON = json.loads(path.read_text())
        self.version = str(self.spec.get("info", {}).get("version"))
        self._jsonschema = jsonschema
        self._checker = jsonschema.FormatChecker()

        def _datetime(value: object) -> bool:
            return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

        self._checker.checks("date-time", raises=ValueError)(_datetime)

        self._operations: list[tuple[re.Pattern[str], str, JSON]] = []
        for template, methods in self.spec["paths"].items():
            pattern = re.compile("^/api" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, operation in methods.items():
                if isinstance(operation, dict) and "responses" in operation:
                    self._operations.append((pattern, method.upper(), operation))
        # literal paths before templated ones (/search/order before /{entity}/{id}-like templates)
        self._operations.sort(key=lambda item: item[0].pattern.count("[^/]+"))
        self._validators: dict[str, Any] = {}
        self.report = SpecReport()

    def operation(self, method: str, path: str) -> tuple[str, JSON] | None:
        for pattern, verb, operation in self._operations:
            if verb == method and pattern.match(path):
                return f"{verb} {pattern.pattern[5:-1]}", operation
        return None

    def _resolve(self, node: JSON) -> JSON:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _validate(self, schema: JSON, instance: Any, where: str) -> None:
        key = json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = self._jsonschema.Draft202012Validator(
                {**schema, "components": self.spec["components"]}, format_checker=self._checker)
            self._validators[key] = validator
        for error in sorted(validator.iter_errors(_drop_nulls(instance)), key=str)[:3]:
            self.report.violations.append(f"{where}: {error.message[:200]} at {list(error.absolute_path)}")

    def check(self, method: str, path: str, request_body: bytes, status: int, content_type: str,
              response_body: bytes) -> None:
        found = self.operation(method, path)
        if found is None:
            self.report.violations.append(f"{method} {path}: no such operation in the spec")
            return
        name, operation = found
        self.report.operations[name] += 1
        self.report.requests += 1
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if request_body and media is not None and "schema" in media:
            schema = media["schema"]
            if method == "PATCH":  # "Partially update ...": the entity's required fields do not apply
                schema = {k: v for k, v in self._resolve(schema).items() if k != "required"}
            try:
                self._validate(schema, json.loads(request_body), f"{name} request")
            except ValueError:
                self.report.violations.append(f"{name} request: body is not JSON")
        self.report.responses += 1
        responses = operation.get("responses", {})
        documented = responses.get(str(status))
        if documented is None:
            if status >= 400:
                self._validate({"$ref": "#/components/schemas/failure"}, _json(response_body),
                               f"{name} {status} (undocumented error)")
            else:
                self.report.violations.append(f"{name}: status {status} is not documented")
            return
        content = self._resolve(documented).get("content", {})
        media_type = content_type.split(";")[0].strip()
        if not content:
            return
        if media_type not in content:
            self.report.violations.append(f"{name} {status}: media type {media_type} is not documented")
            return
        schema = content[media_type].get("schema")
        if schema is not None:
            self._validate(schema, _json(response_body), f"{name} {status} response")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return body.decode("utf-8", "replace")
