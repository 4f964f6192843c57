"""One `--database-url` per database: whatever driver it names, reads get the dialect's async
driver and the writer its blocking one."""

from __future__ import annotations

import pytest

from statesync_server.store.store import async_url, sync_url


@pytest.mark.parametrize("url, reads, writes", [
    ("postgresql://u:p@db:5432/app", "postgresql+asyncpg", "postgresql+psycopg"),
    ("postgres://u@db/app", "postgresql+asyncpg", "postgresql+psycopg"),
    ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg", "postgresql+psycopg"),
    ("sqlite:///statesync.db", "sqlite+aiosqlite", "sqlite+pysqlite"),
    ("sqlite+aiosqlite:///statesync.db", "sqlite+aiosqlite", "sqlite+pysqlite"),
])
def test_a_url_gets_the_drivers_of_its_dialect(url: str, reads: str, writes: str) -> None:
    assert async_url(url).drivername == reads
    assert sync_url(url).drivername == writes
    assert async_url(url).database == sync_url(url).database  # nothing else changes
    assert async_url(url).password == sync_url(url).password
