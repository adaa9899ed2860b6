"""WordPress REST plumbing: requests, responses, argument schemas and their validation."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from kade.plugins.woocommerce.simulator.models import ApiKey, WPError

# --------------------------------------------------------------------------------------------
# HTTP plumbing


@dataclass
class Request:
    method: str
    scheme: str
    host: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    client: str
    params: dict[str, Any] = field(default_factory=dict)
    match: dict[str, str] = field(default_factory=dict)
    key: ApiKey | None = None

    def json(self) -> Any:
        if not self.body:
            return {}
        if "application/json" not in self.headers.get("content-type", "application/json"):
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        try:
            return json.loads(self.body)
        except ValueError:
            raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.") from None


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=UTF-8"


@dataclass(frozen=True)
class Arg:
    """A WP REST argument schema (the subset the store validates)."""

    type: str = "string"  # string | integer | boolean | array | date-time | object
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    required: bool = False


Handler = Callable[[Request], Response]


@dataclass
class Route:
    namespace: str
    pattern: str
    methods: dict[str, tuple[Handler, dict[str, Arg]]]
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        self.regex = re.compile("^" + self.pattern + "$")


def _wp_list(items: Iterable[str]) -> str:
    values = list(items)
    if len(values) <= 1:
        return "".join(values)
    if len(values) == 2:
        return " and ".join(values)
    return ", ".join(values[:-1]) + ", and " + values[-1]


def _parse_date(value: str) -> datetime:
    """WP date-time argument: the wall time is used as given, any offset ignored (WP_Date_Query)."""
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?", value)
    if not match:
        raise ValueError(value)
    parts = [int(p) if p else 0 for p in match.groups()]
    return datetime(*parts)  # type: ignore[arg-type]


def _validate(args: Mapping[str, Arg], params: dict[str, Any]) -> None:
    missing = [name for name, spec in args.items() if spec.required and name not in params]
    if missing:
        raise WPError(400, "rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", params=missing)
    invalid: dict[str, str] = {}
    for name, spec in args.items():
        if name not in params:
            continue
        value = params[name]
        if spec.type == "integer":
            try:
                value = int(value)
                if isinstance(params[name], bool) or str(params[name]).strip() != str(value):
                    raise ValueError
            except (TypeError, ValueError):
                invalid[name] = f"{name} is not of type integer."
                continue
            low, high = spec.minimum, spec.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                if low is not None and high is not None:
                    invalid[name] = f"{name} must be between {low} (inclusive) and {high} (inclusive)"
                elif low is not None:
                    invalid[name] = f"{name} must be greater than or equal to {low}"
                else:
                    invalid[name] = f"{name} must be less than or equal to {high}"
                continue
            params[name] = value
        elif spec.type == "boolean":
            text = str(value).lower()
            if text not in ("true", "false", "1", "0"):
                invalid[name] = f"{name} is not of type boolean."
                continue
            params[name] = text in ("true", "1")
        elif spec.type == "date-time":
            try:
                params[name] = _parse_date(str(value))
            except ValueError:
                invalid[name] = "Invalid date."
                continue
        elif spec.type == "array":
            items = value if isinstance(value, list) else [v for v in str(value).split(",") if v]
            bad = [v for v in items if spec.enum and str(v) not in spec.enum]
            if bad:
                invalid[name] = f"{name}[{items.index(bad[0])}] is not one of {_wp_list(spec.enum)}."
                continue
            params[name] = [str(v) for v in items]
        elif spec.enum and str(value) not in spec.enum:
            invalid[name] = f"{name} is not one of {_wp_list(spec.enum)}."
    if invalid:
        raise WPError(400, "rest_invalid_param", f"Invalid parameter(s): {', '.join(invalid)}", params=invalid)


COLLECTION = {
    "context": Arg(enum=("view", "edit")),
    "page": Arg("integer", minimum=1),
    "per_page": Arg("integer", minimum=1, maximum=100),
    "offset": Arg("integer"),
    "order": Arg(enum=("asc", "desc")),
    "include": Arg("array"),
    "exclude": Arg("array"),
    "after": Arg("date-time"),
    "before": Arg("date-time"),
}


