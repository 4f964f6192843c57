"""The virtual time of a server on a manual clock, for the CLI's views of pending work."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "server_clock" not in sa.inspect(op.get_bind()).get_table_names():
        op.create_table(
            "server_clock",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("now", sa.Float, nullable=False),
        )
