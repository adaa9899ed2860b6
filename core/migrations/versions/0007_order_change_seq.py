"""order feed: a commit-ordered change sequence on orders

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01 21:40:00

The feed used to page by (updated_at, id), and a transaction that committed after a reader had
passed its (older) updated_at was never seen. ``change_seq`` is stamped by the database in commit
order instead: on PostgreSQL by a deferred trigger that takes a transaction-level advisory lock and
draws from a sequence while committing; on SQLite, where writers are serialised anyway, by a plain
trigger taking max + 1. See docs/decisions/order-feed-change-sequence.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

#: the advisory lock that puts order-changing commits in line (any constant unique to Kade)
FEED_LOCK = 0x4B414445_46454544 & 0x7FFFFFFFFFFFFFFF

PG_UP = [
    "CREATE SEQUENCE IF NOT EXISTS order_change_seq",
    f"""
    CREATE OR REPLACE FUNCTION kade_stamp_order_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- runs while committing (deferred); the lock is held until the commit is visible, so
        -- numbers are handed out in commit order
        PERFORM pg_advisory_xact_lock({FEED_LOCK});
        UPDATE orders SET change_seq = nextval('order_change_seq') WHERE id = NEW.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER orders_change_seq_insert AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (pg_trigger_depth() = 0)
    EXECUTE FUNCTION kade_stamp_order_change()
    """,
    """
    CREATE CONSTRAINT TRIGGER orders_change_seq_update AFTER UPDATE ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (pg_trigger_depth() = 0 AND OLD.updated_at IS DISTINCT FROM NEW.updated_at)
    EXECUTE FUNCTION kade_stamp_order_change()
    """,
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS orders_change_seq_update ON orders",
    "DROP TRIGGER IF EXISTS orders_change_seq_insert ON orders",
    "DROP FUNCTION IF EXISTS kade_stamp_order_change()",
    "DROP SEQUENCE IF EXISTS order_change_seq",
]
_SQLITE_NEXT = ("UPDATE orders SET change_seq = (SELECT COALESCE(MAX(change_seq), 0) + 1 FROM orders)"
                " WHERE id = NEW.id;")
SQLITE_UP = [
    f"CREATE TRIGGER orders_change_seq_insert AFTER INSERT ON orders BEGIN {_SQLITE_NEXT} END",
    "CREATE TRIGGER orders_change_seq_update AFTER UPDATE OF updated_at ON orders"
    f" WHEN OLD.updated_at IS NOT NEW.updated_at BEGIN {_SQLITE_NEXT} END",
]
SQLITE_DOWN = ["DROP TRIGGER IF EXISTS orders_change_seq_update",
               "DROP TRIGGER IF EXISTS orders_change_seq_insert"]


def upgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
    # existing orders keep the feed's old order
    rows = op.get_bind().execute(sa.text("SELECT id FROM orders ORDER BY updated_at, id")).all()
    for number, (order_id,) in enumerate(rows, start=1):
        op.execute(sa.text("UPDATE orders SET change_seq = :n WHERE id = :id").bindparams(n=number, id=order_id))
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_order_tenant_updated")
        batch_op.create_index("ix_order_tenant_change_seq", ["tenant_id", "change_seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_orders_change_seq"), ["change_seq"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_UP:
            op.execute(statement)
        op.execute(sa.text("SELECT setval('order_change_seq', :n, true)").bindparams(n=max(len(rows), 1)))
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    for statement in PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_orders_change_seq"))
        batch_op.drop_index("ix_order_tenant_change_seq")
        batch_op.create_index("ix_order_tenant_updated", ["tenant_id", "updated_at", "id"], unique=False)
        batch_op.drop_column("change_seq")
