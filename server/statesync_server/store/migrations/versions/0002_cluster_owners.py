"""Cluster mode: timer and outbox rows name their owner process; the `nodes` table.

Columns already there are left alone (databases made by `create_all` while cluster mode was
being built have them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in ("timers", "outbox"):
        if "owner" not in {c["name"] for c in inspector.get_columns(table)}:
            op.add_column(table, sa.Column("owner", sa.String(64)))
    if not inspector.has_table("nodes"):
        op.create_table(
            "nodes",
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("started_at", sa.Float, nullable=False),
            sa.Column("heartbeat_at", sa.Float, nullable=False),
        )
