"""Kade: an integration hub between a warehouse and the shops and marketplaces it sells through."""

from kade.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["__version__", "hookimpl"]
