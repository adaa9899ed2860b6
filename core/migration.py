"""Deprecated name of :mod:`kade.login_migration` (moving a connection to another login method).

Kept importable so that code written against the old name still runs; ``migrations/`` is the
database schema, which this module never was.
"""

from __future__ import annotations

import warnings

from kade.login_migration import migrate as migrate

warnings.warn("kade.migration is now kade.login_migration", DeprecationWarning, stacklevel=2)
