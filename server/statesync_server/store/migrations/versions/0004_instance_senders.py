"""The log's `subject` holds the sender of a message too: `machine/instance`, up to 401
characters (a token's `sub` is at most 200). SQLite does not enforce lengths: nothing to do."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("events", "subject", type_=sa.String(401), existing_type=sa.String(200),
                    existing_nullable=True)
