"""Baseline: the tables as `metadata.create_all` made them before migrations existed.

A database that already has them is stamped at this revision instead (store/migrate.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("instances_version", "instances", ["machine", "version"])
    op.create_table(
        "events",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("event_id", sa.String(128)),
        sa.Column("origin", sa.String(32), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("public", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("events_event_id", "events", ["machine", "instance", "event_id"], unique=True)
    op.create_table(
        "machine_versions",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
    )
    op.create_table(
        "index_defs",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("path", sa.String(500), nullable=False),
    )
    op.create_table(
        "index_entries",
        sa.Column("machine", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key", sa.String(1000), nullable=False),
        sa.Column("instance", sa.String(200), nullable=False),
    )
    op.create_index("index_entries_lookup", "index_entries",
                    ["machine", "name", "key", "instance"], unique=True)
    op.create_index("index_entries_instance", "index_entries", ["machine", "instance"])
    op.create_table(
        "checkpoints",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.Text, nullable=False),
    )
    op.create_table(
        "timers",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("timer_id", sa.String(500), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("due", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("timers_due", "timers", ["due"])
    op.create_table(
        "outbox",
        sa.Column("machine", sa.String(200), primary_key=True),
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("outbox_status", "outbox", ["status", "next_at"])
