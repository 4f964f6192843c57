"""Instance names compare by code point in the tables that join on them (instances, events;
index entries already do since 0003), so the joins keep using the primary keys on PostgreSQL
and names order as on SQLite. SQLite: nothing to do."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in (("instances", "name"), ("events", "instance")):
        op.alter_column(table, column, type_=sa.String(200, collation="C"),
                        existing_type=sa.String(200), existing_nullable=False)
