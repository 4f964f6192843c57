"""Cluster mode: each process's address for the others (client sends are forwarded to an
instance's owner process, docs/deployment.md)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "address" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("nodes")}:
        op.add_column("nodes", sa.Column("address", sa.String(255)))
