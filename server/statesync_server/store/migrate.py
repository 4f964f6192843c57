"""The store's schema, created and evolved by ordered Alembic migrations (store/migrations/),
run when the store opens.

Several processes may start at once on one database: each migrates under a lock (`exclusive`)
and reads the schema's revision only once it holds it, so one process migrates and the others
find the work done. PostgreSQL: an advisory lock (DDL is transactional there, so a migration
and its revision commit together). SQLite: an exclusive lock on `<database>-startup.lock` next
to the file. A database made by `metadata.create_all` before migrations existed is adopted:
stamped at the baseline, then migrated like any other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config  # Alembic loads only when a database is opened

VERSION_TABLE = "statesync_schema"
"""Alembic's version table (not `alembic_version`, which an app's own migrations may use)."""
BASELINE = "0001"
_ADVISORY_KEY = 0x5747_5354  # any fixed 64-bit number; "SGST"
_SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision: the schema `store.schema.metadata` describes."""
    from alembic.script import ScriptDirectory

    newest = ScriptDirectory(str(_SCRIPTS)).get_current_head()
    assert newest is not None, "store/migrations/versions/ holds no revision"
    return newest


def revision(connection: Connection) -> str | None:
    """The database's schema revision (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def migrate(engine: Engine, target: str = "head") -> None:
    """Bring the database to revision `target` (default: the newest), under the lock."""
    from alembic import command

    with _locked(engine) as connection:
        config = _config(connection)
        if revision(connection) is None and inspect(connection).has_table("instances"):
            command.stamp(config, BASELINE)  # made by create_all: the baseline's tables
        command.upgrade(config, target)


@contextlib.contextmanager
def exclusive(engine: Engine) -> Iterator[None]:
    """Held by one process at a time among all that use the database (migrating, and the
    start-up's other one-time writes): a session advisory lock on PostgreSQL, an exclusive
    lock on `<database>-startup.lock` next to a SQLite file. Blocks until it is free."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": _ADVISORY_KEY})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    with open(f"{database}-startup.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction, under `exclusive`."""
    with exclusive(engine), engine.connect() as connection, connection.begin():
        yield connection
