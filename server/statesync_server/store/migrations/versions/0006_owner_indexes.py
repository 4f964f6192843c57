"""Cluster mode: timer and outbox rows by owner, so the rows of a stopped process are found
without scanning every pending row."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = {
        table: {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}
        for table in ("timers", "outbox")
    }
    if "timers_owner" not in existing["timers"]:
        op.create_index("timers_owner", "timers", ["owner"])
    if "outbox_owner" not in existing["outbox"]:
        op.create_index("outbox_owner", "outbox", ["owner", "status"])
