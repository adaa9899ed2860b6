"""action claims with an owner; per-connection run state (import lock, failures, scheduler marks)

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kade.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.create_table(
        "connection_runtime",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", kade.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_products_at", kade.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("import_holder", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("import_lease_until", kade.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("import_again", sa.Boolean(), nullable=False),
        sa.Column("import_failures", sa.Integer(), nullable=False),
        sa.Column("import_failing_since", kade.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("import_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("connection_id"),
    )


def downgrade() -> None:
    op.drop_table("connection_runtime")
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("claimed_by")
