"""The warehouse's HTTP API under /api/v1 (FastAPI)."""

from kade.webapi.app import warehouse_api

__all__ = ["warehouse_api"]
