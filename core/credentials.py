"""Deprecated name of :mod:`kade.credentials_check` (the daily login and expiry check)."""

from __future__ import annotations

import warnings

from kade.credentials_check import WARN_DAYS as WARN_DAYS
from kade.credentials_check import check_credentials as check_credentials

warnings.warn("kade.credentials is now kade.credentials_check", DeprecationWarning, stacklevel=2)
