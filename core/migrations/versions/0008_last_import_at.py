"""connection run state: when the last import ended well

Revision ID: 0008
Revises: 0007

An empty poll no longer writes an ``orders_imported`` event (at 50,000 connections that was 14
million rows a day, docs/scaling.md); the moment of the last good import is kept on the
connection's run-state row instead, filled here from the event log.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kade.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("connection_runtime") as batch:
        batch.add_column(sa.Column("last_import_at", kade.models.UTCDateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE connection_runtime SET last_import_at = (SELECT max(events.at) FROM events "
        "WHERE events.connection_id = connection_runtime.connection_id AND events.kind = 'orders_imported' "
        "AND events.outcome = 'ok')"
    )


def downgrade() -> None:
    with op.batch_alter_table("connection_runtime") as batch:
        batch.drop_column("last_import_at")
