"""The store's schema migrations (store/migrate.py) on each backend: a fresh database ends at
the newest revision with exactly the tables of store/schema.py; an older database is upgraded
keeping its rows; a database made by `create_all` before migrations is adopted; processes that
start at once on a fresh database all come up."""

from __future__ import annotations

import subprocess
import sys
import threading

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from server_harness import APP, ServerProcess, WsClient, mint
from sqlalchemy import String, create_engine, text

from statesync_server.store.migrate import BASELINE, VERSION_TABLE, head, migrate, revision
from statesync_server.store.schema import metadata
from statesync_server.store.store import sync_url
from statesync_server.testing.postgres import Databases, PostgresServer, query


def _migrate(url: str, target: str = "head") -> None:
    engine = create_engine(sync_url(url))
    try:
        migrate(engine, target)
    finally:
        engine.dispose()


def _same_type(context, inspected, metadata_column, inspected_type, metadata_type) -> bool | None:
    """SQLite keeps but never enforces a VARCHAR's length: migrations leave it as it was."""
    if context.dialect.name == "sqlite" and isinstance(inspected_type, String) and isinstance(
            metadata_type, String):
        return False  # not different
    return None  # Alembic's own comparison


def _differences(url: str) -> list[object]:
    """What differs between the database's tables and store/schema.py's."""
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": _same_type,
                "include_name": lambda name, kind, _parent: name != VERSION_TABLE})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return revision(conn)
    finally:
        engine.dispose()


def test_a_fresh_database_gets_the_newest_schema(databases: Databases) -> None:
    url = databases.new("fresh")
    _migrate(url)
    assert _revision(url) == head() != BASELINE
    assert _differences(url) == []
    _migrate(url)  # again: nothing to do
    assert _revision(url) == head()


def test_a_baseline_database_is_upgraded_with_its_rows(databases: Databases,
                                                        backend: str) -> None:
    url = databases.new("baseline")
    _migrate(url, BASELINE)
    assert _revision(url) == BASELINE
    engine = create_engine(sync_url(url))
    names = ["B", "a", "_", "b", "é", "Z"]
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO instances VALUES ('m', 'i', '1', '{}', 3, 'active', 1.0, 2.0)"))
        conn.execute(text("INSERT INTO timers VALUES ('m', 'i', 't', 3, '{}', 9.0, 1.0)"))
        for name in names:
            conn.execute(text("INSERT INTO index_entries VALUES ('m', 'ix', :key, :name)"),
                         {"key": "s" + name, "name": name})
    engine.dispose()

    _migrate(url)
    assert _revision(url) == head()
    assert _differences(url) == []
    assert [tuple(r) for r in query(url, "SELECT name, seq, snapshot FROM instances")] == [
        ("i", 3, "{}")]
    assert [tuple(r) for r in query(url, "SELECT timer_id, owner FROM timers")] == [("t", None)]
    # index keys (and the names ordering equal keys) compare by code point on every database
    ordered = query(url, "SELECT instance FROM index_entries ORDER BY key, instance")
    assert [r[0] for r in ordered] == sorted(names)
    if backend == "postgresql":
        collations = query(url, "SELECT table_name, column_name FROM information_schema."
                                "columns WHERE table_schema = 'public' AND collation_name = 'C'")
        assert {tuple(r) for r in collations} == {
            ("index_entries", "key"), ("index_entries", "instance"), ("instances", "name"),
            ("events", "instance")}


def test_a_database_made_before_migrations_is_adopted(databases: Databases) -> None:
    """Tables there but no revision (what `metadata.create_all` left): stamped at the baseline
    and upgraded, the rows kept."""
    url = databases.new("adopted")
    _migrate(url, BASELINE)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        conn.execute(text(
            "INSERT INTO instances VALUES ('m', 'kept', '1', '{}', 0, 'active', 1.0, 1.0)"))
    engine.dispose()
    assert _revision(url) is None

    _migrate(url)
    assert _revision(url) == head()
    assert _differences(url) == []
    assert [r[0] for r in query(url, "SELECT name FROM instances")] == ["kept"]


def test_processes_migrating_at_once_all_succeed(databases: Databases) -> None:
    """Three processes migrate one fresh database at the same moment (released together)."""
    url = databases.new("racing")
    script = (
        "import sys\n"
        "from sqlalchemy import create_engine\n"
        "from statesync_server.store.migrate import migrate\n"
        "from statesync_server.store.store import sync_url\n"
        "engine = create_engine(sync_url(sys.argv[1]))\n"
        "sys.stdin.readline()\n"  # every process is ready: go
        "migrate(engine)\n")
    processes = [subprocess.Popen([sys.executable, "-c", script, url], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    assert _revision(url) == head()
    assert _differences(url) == []


async def test_two_servers_started_at_once_on_a_fresh_postgresql_database(
        postgres: PostgresServer) -> None:
    """Two server processes, started at the same moment on a fresh PostgreSQL database, both
    come up and serve it (several rounds: the race is timing-dependent). Two processes on one
    database are for PostgreSQL only (SQLite is served by one)."""
    for round_ in range(3):
        url = postgres.create_database(f"twins_{round_}")
        servers = [ServerProcess(url, app=APP) for _ in range(2)]
        errors: list[BaseException] = []

        def start(server: ServerProcess) -> None:
            try:
                server.start()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(s,)) for s in servers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            assert not errors, errors
            for i, server in enumerate(servers):
                client = await WsClient.connect(server, mint("alice"))
                reply = await client.request({"type": "create", "id": 1, "machine": "counter",
                                              "instance": f"c{i}"})
                assert reply["type"] == "created", reply
                await client.close()
            assert _revision(url) == head()
        finally:
            for server in servers:
                server.stop()
