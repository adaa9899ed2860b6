"""Structured logging (structlog), configured once, with credentials redacted.

Console output on a TTY, JSON lines otherwise. Tenant, connection and job ids are bound as
context variables by the worker middleware so every line of a job carries them.

Redaction works three ways: values under sensitive keys are masked; every credential value
Kade has decrypted is masked wherever it appears in a string (messages, exceptions, URLs); and
what looks like a secret whatever its origin — an ``Authorization: Basic``/``Bearer`` value, the
password of a URL — is masked by pattern. ``configure_logging`` routes every log path of the
process through ``redact_text``: structlog's processors, every standard-library ``logging``
record (Dramatiq's "Failed to process message", uvicorn's errors) with its traceback, and
uncaught exceptions of the main and other threads. uvicorn's handlers (its loggers do not
propagate to the root) get a redacting filter as well, through ``uvicorn_log_config``.
"""

from __future__ import annotations

import copy
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

MASK = "***"
SENSITIVE_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authori[sz]ation|credential|cookie|signature|private)", re.I
)
#: header values that are credentials whatever Kade knows: ``Basic base64(id:secret)``, ``Bearer <token>``
AUTH_VALUE = re.compile(r"\b(Basic|Bearer|OAuth)(\s+|%20|\+)([A-Za-z0-9._~+/=:-]{8,})", re.I)
#: ``scheme://user:password@host`` — the password part
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)", re.I)
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
    """Mask every known credential value, auth header value and URL password inside ``text``."""
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = AUTH_VALUE.sub(_mask_auth_value, text)
    return URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)


def _mask_auth_value(match: re.Match[str]) -> str:
    value = match.group(3)
    # "basic authentication" is prose; a credential has a digit or a symbol, or is long.
    if len(value) < 20 and not re.search(r"[0-9=+/._~-]", value):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{MASK}"


def mask_url(url: str) -> str:
    """A URL fit to show: the password of its userinfo masked."""
    return URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", url)


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


_base_factory = logging.getLogRecordFactory()


def _redacted_arg(value: Any) -> Any:
    return redact_text(value) if isinstance(value, str) else value


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every stdlib record, whichever logger and handler: message, arguments and traceback redacted.

    The traceback is rendered here into ``exc_text``, which ``logging.Formatter`` uses as is, so
    no handler — Dramatiq's, uvicorn's, one configured later — can print it unmasked.
    """
    return _redact_record(_base_factory(*args, **kwargs))


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redacted_arg(v) for k, v in record.args.items()}
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
    except Exception:  # redaction must never lose the log line itself  # pragma: no cover
        pass
    return record


class RedactingFilter(logging.Filter):
    """A handler filter doing the record factory's redaction again, at the handler.

    The record factory is one process-wide slot a library may replace; a filter on the handler
    itself holds whatever happens to it. ``uvicorn_log_config`` puts one on every handler uvicorn
    creates, since uvicorn's loggers do not propagate to the root logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging config (its formats and streams), with redaction on each handler.

    Pass it as ``log_config`` wherever Kade starts uvicorn (``kade serve``, simulator servers).
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["kade_redact"] = {"()": RedactingFilter}
    for handler in config.get("handlers", {}).values():
        handler["filters"] = [*handler.get("filters", []), "kade_redact"]
    return config


def _redacting_excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
    sys.stderr.write(redact_text("".join(traceback.format_exception(exc_type, exc, tb))))


def _redacting_thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    name = args.thread.name if args.thread is not None else "?"
    sys.stderr.write(redact_text(f"Exception in thread {name}:\n{text}"))


def _redacting_handle_error(self: logging.Handler, record: logging.LogRecord) -> None:
    """``logging.Handler.handleError``, redacted: a handler that fails (a closed stream) while an
    exception is being handled would print that exception, secrets and all, as the context."""
    if not logging.raiseExceptions or sys.stderr is None:
        return
    try:
        text = "--- Logging error ---\n" + "".join(traceback.format_exception(*sys.exc_info()))
        text += f"Message: {record.msg!r}\nArguments: {record.args}\n"
        sys.stderr.write(redact_text(text))
    except Exception:  # pragma: no cover - as the standard library: never raise from here
        pass


def install_redaction() -> None:
    """Route the standard library's log records and uncaught exceptions through ``redact_text``."""
    logging.setLogRecordFactory(_redacting_record_factory)
    logging.Handler.handleError = _redacting_handle_error  # type: ignore[method-assign]
    sys.excepthook = _redacting_excepthook
    threading.excepthook = _redacting_thread_excepthook


def configure_logging(log_format: str = "auto", level: str = "INFO", *, force: bool = False) -> None:
    """Configure structlog once per process (idempotent unless ``force``), and redact stdlib logging."""
    global _configured
    install_redaction()
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
