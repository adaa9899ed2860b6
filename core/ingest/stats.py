"""What one order import did, counted: the figures its event, the CLI and the API report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class ImportStats:
    pages: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    quarantined: int = 0
    cancelled: int = 0
    products_created: int = 0
    notifications: int = 0
    #: skipped because the connection this one replaces imported them (rule R9)
    already_imported: int = 0
    newest: datetime | None = None
    errors: list[str] = field(default_factory=list)
    #: the call found an import running and asked it to run once more instead
    coalesced: bool = False
    #: imports this call ran (more than one when requests came in meanwhile)
    runs: int = 0

    @property
    def changed_anything(self) -> bool:
        """Whether the import wrote or refused anything: an empty poll records no event."""
        return bool(self.created or self.updated or self.ignored or self.quarantined or self.cancelled
                    or self.products_created or self.notifications or self.already_imported)

    def add(self, other: ImportStats) -> None:
        for name in ("pages", "created", "updated", "unchanged", "ignored", "quarantined", "cancelled",
                     "products_created", "notifications", "already_imported"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.newest is not None and (self.newest is None or other.newest > self.newest):
            self.newest = other.newest
        self.errors.extend(other.errors)
