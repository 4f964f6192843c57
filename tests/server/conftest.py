"""Fixtures: one shared server process for the module-independent tests, and factories."""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from server_harness import APP, ServerProcess, WsClient, mint

_names = itertools.count()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The test app on a fresh database, shared by the tests (each uses its own instances)."""
    process = ServerProcess(tmp_path_factory.mktemp("server") / "test.db").start()
    yield process
    process.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start extra servers (custom flags, restarts); all are stopped after the test."""
    started: list[ServerProcess] = []

    def start(*args: str, db: Path | None = None, app: str | None = None) -> ServerProcess:
        process = ServerProcess(db or tmp_path / "test.db", *args, app=app or APP)
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
