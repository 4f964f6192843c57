"""Index keys and the instance names ordering index entries compare by code point on every
database: `COLLATE "C"` on PostgreSQL (whose default collation may be a language's, e.g.
en-US ICU, where "B" sorts after "a"). SQLite already compares text as bytes (UTF-8 byte order
is code-point order): nothing to do there.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column, length in (("key", 1000), ("instance", 200)):
        op.alter_column("index_entries", column, type_=sa.String(length, collation="C"),
                        existing_type=sa.String(length), existing_nullable=False)
