"""actions: one index for a connection's due work of one kind

Revision ID: 0009
Revises: 0008

Every claim looks up one connection's pending actions of one kind, oldest first (a stock flush's
batch, a shipment batch, the recovery's next due action). With only ``(status, next_attempt_at)``
and ``(connection_id)`` to choose from, PostgreSQL read either every due action of every
connection or every action the connection ever had, done ones included. ``(connection_id, kind,
status, id)`` reads the connection's own of that kind and status, oldest first. It leads with
``connection_id``, so it replaces that column's index: an update writes no more index entries
than before (docs/decisions/action-claim-index.md).
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.create_index("ix_action_connection_kind_status", ["connection_id", "kind", "status", "id"])
        batch.drop_index("ix_actions_connection_id")


def downgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        batch.create_index("ix_actions_connection_id", ["connection_id"])
        batch.drop_index("ix_action_connection_kind_status")
