"""Fixtures: one shared server process for the module-independent tests, and factories; each
on the backend of the test (tests/conftest.py: SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from server_harness import APP, ServerProcess, WsClient, mint

from statesync_server.testing.postgres import Databases

_names = itertools.count()


@pytest.fixture(scope="session")
def server(session_databases: Databases) -> Iterator[ServerProcess]:
    """The test app on a fresh database, shared by the tests (each uses its own instances)."""
    process = ServerProcess(session_databases.new("server")).start()
    yield process
    process.stop()


@pytest.fixture
def start_server(databases: Databases) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra servers (custom flags, restarts), on the test's own fresh database unless
    `db` (a SQLite path or a URL) is given; all are stopped after the test."""
    started: list[ServerProcess] = []
    own: list[str] = []

    def start(*args: str, db: str | Path | None = None, app: str | None = None) -> ServerProcess:
        if db is None:
            own[:] = own or [databases.new()]
            db = own[0]
        process = ServerProcess(db, *args, app=app or APP)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A fresh instance name for this test."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', request.node.name)[:60]}-{next(_names)}"


@pytest.fixture
async def alice(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server, mint("alice"))
    yield client
    await client.close()


@pytest.fixture
async def bob(server: ServerProcess) -> AsyncIterator[WsClient]:
    client = await WsClient.connect(server, mint("bob"))
    yield client
    await client.close()
