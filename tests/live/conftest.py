"""Live query tests: one restaurant server per module (real process), raw sockets, clients."""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from statesync import Client
from statesync.client import Backoff
from statesync_server.testing import ServerProcess

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))  # server_harness.WsClient

APP = str(Path(__file__).parent / "apps" / "restaurant.py")
_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(APP, tmp_path_factory.mktemp("live") / "live.db").start()
    yield process
    process.stop()


@pytest.fixture
def restaurant(request: pytest.FixtureRequest) -> str:
    """A restaurant of this test's own: its orders are the only ones its watches match."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', request.node.name)[:50]}-{next(_names)}"


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Client]]:
    """`make_client(url, token=...)`: a Python client, closed after the test."""
    clients: list[Client] = []

    def make(url: str, **options: Any) -> Client:
        options.setdefault("backoff", Backoff(initial=0.05, max_delay=0.5))
        options.setdefault("request_timeout", 10.0)
        clients.append(Client(url, **options))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()
