"""Exceptions that are the user's doing, reduced to one line (never SQL parameters or secrets).

The edge checks (settings, files, arguments) should catch bad input first; this is the net under
them, so that what slips through is still one line and exit code 2 rather than a traceback.
Anything not listed here is a bug and keeps its traceback.
"""

from __future__ import annotations

from kade.logs import redact_text


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's exception classes (Typer may ship its own copy of Click)."""
    found: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        found.append(VendoredClickException)
    except ImportError:
        pass
    try:
        from click import ClickException

        found.append(ClickException)
    except ImportError:
        pass
    return tuple(found)


def settings_message(exc: BaseException) -> str:
    """A pydantic settings error as ``KADE_NAME=value: what is wrong`` (first problem only)."""
    from pydantic import ValidationError

    assert isinstance(exc, ValidationError)
    problems = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if name in ("secret_key", "admin_token"):  # never echo a secret
            problems.append(f"KADE_{name.upper()}: {message}")
        elif name:
            problems.append(f"KADE_{name.upper()}={error.get('input')!r}: {message}")
        else:
            problems.append(message)
    return "; ".join(problems) or "invalid settings"


def one_line(exc: BaseException) -> str | None:
    """The one-line message for a user-caused error, or None when ``exc`` is a bug."""
    import sqlalchemy.exc as sa_exc
    from pydantic import ValidationError

    text: str | None = None
    if isinstance(exc, _usage_errors()):
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        text = f"{where}{exc.format_message()} (see --help)"  # type: ignore[attr-defined]
    elif isinstance(exc, ValidationError):
        text = settings_message(exc)
    elif isinstance(exc, sa_exc.DBAPIError):
        # str(exc) carries the statement and its parameters (encrypted credentials included)
        first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
        text = f"the database refused the request: {first}"
    elif isinstance(exc, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        text = f"KADE_DATABASE_URL is not a database URL Kade can use: {exc}"
    elif isinstance(exc, RecursionError):
        text = "the input is nested too deeply"
    elif _is_redis_error(exc):
        text = f"Redis (KADE_REDIS_URL): {exc}"
    if text is None:
        return None
    return " ".join(redact_text(text).split())


def _is_redis_error(exc: BaseException) -> bool:
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, redis.exceptions.RedisError)
