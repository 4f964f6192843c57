"""Client tests: real servers (statesync_server.testing) and clients that close after the test."""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from statesync import Client
from statesync.client import Backoff

sys.path.insert(0, str(Path(__file__).parent / "apps"))
from clientapp import MACHINES  # noqa: E402

APP = str(Path(__file__).parent / "apps" / "clientapp.py")
FAST = Backoff(initial=0.05, max_delay=0.5)
_names = itertools.count()


@pytest.fixture(scope="session")
def statesync_app() -> str:
    return APP


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A fresh instance name for this test."""
    return f"{re.sub(r'[^A-Za-z0-9_-]', '-', request.node.name)[:60]}-{next(_names)}"


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Client]]:
    """`make_client(url, token=..., machines=MACHINES, ...)`: connected lazily, closed after."""
    clients: list[Client] = []

    def make(url: str, **options: Any) -> Client:
        options.setdefault("machines", MACHINES)
        options.setdefault("backoff", FAST)
        options.setdefault("request_timeout", 5.0)
        clients.append(Client(url, **options))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()
