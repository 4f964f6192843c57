"""Alembic environment: migrates the connection `store.migrate` hands over (in its transaction,
under its lock); there is no alembic.ini or URL of its own."""

from alembic import context

from statesync_server.store.migrate import VERSION_TABLE
from statesync_server.store.schema import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
