"""Ranges of the numbers the CLI accepts, taken from what the schema stores.

Typer checks them while parsing, so ``stock set SKU 2147483648`` is one line naming the range
instead of a database error that prints the statement's parameters.
"""

from __future__ import annotations

from typing import Any

from kade.boundary import INT_MAX

#: a stock level or any other stored count
QUANTITY: dict[str, Any] = {"min": 0, "max": INT_MAX}
#: a row id
ROW_ID: dict[str, Any] = {"min": 1, "max": INT_MAX}
#: how many rows a listing prints
LIMIT: dict[str, Any] = {"min": 1, "max": 100_000}
