"""What every ``kade`` command module shares: the consoles, building a Kade, tables and ``--json``.

Data from stores and operators is never read as Rich markup: table cells are plain ``Text`` and
messages that carry data are printed with ``markup=False``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlmodel import Session

from kade.app import Kade
from kade.config import Settings
from kade.errors import UserError
from kade.logs import configure_logging

out = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="tenant name")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print one JSON document (stable field names)")]


class Exit2(UserError):
    """A user error already reduced to one line."""


def show_warning(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
    err.print(f"kade: warning: {message}", markup=False, highlight=False, soft_wrap=True)


def load_settings() -> Settings:
    """The settings, or one line naming the bad ``KADE_*`` variable (see :mod:`kade.cli.errors`)."""
    return Settings()


def make_kade(*, check_schema: bool = True, log_level: str | None = None) -> Kade:
    settings = load_settings()
    # Interactive commands print their own results; the event log lines are for workers.
    level = log_level or (settings.log_level if "KADE_LOG_LEVEL" in os.environ else "WARNING")
    configure_logging(settings.log_format, level)
    warnings.showwarning = show_warning
    kade = Kade(settings)
    if check_schema:
        try:
            kade.check()  # the schema, and the secret key against the database's key check
        except BaseException:
            kade.close()
            raise
    return kade


@contextmanager
def kade_for(*, check_schema: bool = True) -> Iterator[Kade]:
    kade = make_kade(check_schema=check_schema)
    try:
        yield kade
    finally:
        kade.close()


@contextmanager
def session_for(*, check_schema: bool = True) -> Iterator[tuple[Kade, Session]]:
    with kade_for(check_schema=check_schema) as kade, kade.db.transaction() as session:
        yield kade, session


class PlainTable(Table):
    """A table whose string cells are data, never markup (a ``[/]`` in an order number is an
    order number, not a closing tag that crashes the listing)."""

    def add_row(self, *renderables: Any, **kwargs: Any) -> None:
        super().add_row(*(Text(cell) if isinstance(cell, str) else cell for cell in renderables), **kwargs)


def table(title: str, *columns: str) -> Table:
    t = PlainTable(title=Text(title), title_justify="left")
    for column in columns:
        t.add_column(column, highlight=False)
    return t


def row(t: Table, *cells: object) -> None:
    """Add a row of data as plain text."""
    t.add_row(*(Text(plain(cell)) for cell in cells))


def plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def say(message: str) -> None:
    """One line of result that may contain data: printed as is, never as markup."""
    out.print(message, markup=False, highlight=False, soft_wrap=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_jsonable(v) for v in value]
    return value


def print_json(document: Any) -> None:
    """One JSON document on stdout, written directly (no Rich: linear in its length)."""
    typer.echo(json.dumps(_jsonable(document), ensure_ascii=False, indent=2))
