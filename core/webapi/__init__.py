"""The warehouse's HTTP API under /api/v1 (FastAPI)."""

from kade.webapi.app import mount_on, warehouse_api

__all__ = ["mount_on", "warehouse_api"]
