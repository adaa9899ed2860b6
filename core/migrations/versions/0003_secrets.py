"""secrets: key check, webhook tokens, webhook body digests

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
import sqlmodel
from alembic import op

import kade.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kade_meta",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", kade.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_connections_webhook_token"), ["webhook_token"], unique=True)
    # Existing connections get their unguessable token now; the old /webhooks/{id} URLs stop working.
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM connections WHERE webhook_token IS NULL"))]
    for connection_id in ids:
        bind.execute(sa.text("UPDATE connections SET webhook_token = :t WHERE id = :id"),
                     {"t": secrets.token_urlsafe(24), "id": connection_id})
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index("ix_webhook_delivery_digest", ["connection_id", "body_digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_delivery_digest")
        batch_op.drop_column("body_digest")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connections_webhook_token"))
        batch_op.drop_column("webhook_token")
    op.drop_table("kade_meta")
