"""Fixtures: engines over a real database of the test's backend, for any version set of the
onboarding app."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "apps"
sys.path.insert(0, str(APPS))
sys.path.insert(0, str(Path(__file__).parent.parent / "server"))  # server_harness

from statesync_server import App, Engine, Store
from statesync_server.testing.postgres import Databases


@pytest.fixture
def db_url(databases: Databases) -> str:
    """This test's fresh database."""
    return databases.new("versions")


@pytest.fixture
async def open_engine(db_url: str) -> AsyncIterator[Callable[[App], object]]:
    """Start engines over the test's database (one at a time); stopped at the end."""
    running: list[Engine] = []

    async def start(app: App) -> Engine:
        for engine in running:
            await engine.stop()
        running.clear()
        engine = Engine(app, Store(db_url, sqlite_synchronous="NORMAL"))  # durability is tested elsewhere
        await engine.start()
        running.append(engine)
        return engine

    yield start
    for engine in running:
        await engine.stop()
