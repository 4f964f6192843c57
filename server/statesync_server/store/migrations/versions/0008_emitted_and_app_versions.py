"""The log keeps the events each transition emitted (a process that was not listening when
another committed them delivers them when it catches up from the log), and each live process
its app: the hash of its machines' configs and the machine versions it serves (a rolling
deploy: `statesync upgrade` waits for every process to serve the target version)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("events")}
    if "emitted" not in columns:
        op.add_column("events", sa.Column("emitted", sa.Text))
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("nodes")}
    if "app" not in columns:
        op.add_column("nodes", sa.Column("app", sa.String(64)))
        op.add_column("nodes", sa.Column("versions", sa.Text))
