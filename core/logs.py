"""Structured logging (structlog), configured once, with credentials redacted.

Console output on a TTY, JSON lines otherwise. Tenant, connection and job ids are bound as
context variables by the worker middleware so every line of a job carries them.

Redaction works two ways: values under sensitive keys are masked, and every credential value
Kade has decrypted is masked wherever it appears in a string (messages, exceptions, URLs).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

MASK = "***"
SENSITIVE_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authori[sz]ation|credential|cookie|signature|private)", re.I
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_configured = False


def register_secrets(values: Iterable[str]) -> None:
    """Remember credential values so they are masked in anything logged or stored as text."""
    with _secrets_lock:
        for value in values:
            if isinstance(value, str) and len(value) >= 6:
                _secrets.add(value)


def redact_text(text: str) -> str:
    """Mask every known credential value inside ``text``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """Return ``value`` with sensitive keys and known secrets masked, recursively."""
    if key is not None and SENSITIVE_KEY.search(key) and value not in (None, "", {}, []):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every field, including rendered exceptions."""
    for k in list(event_dict):
        event_dict[k] = redact(event_dict[k], k if k != "event" else None)
    return event_dict


def configure_logging(log_format: str = "auto", level: str = "INFO", *, force: bool = False) -> None:
    """Configure structlog once per process (idempotent unless ``force``)."""
    global _configured
    if _configured and not force:
        return
    use_console = log_format == "console" or (log_format == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping().get(level.upper(), 20)),
        # Resolve sys.stderr at each call: it may be swapped (tests, daemonised workers).
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = True


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
