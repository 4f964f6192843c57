"""Fixtures for the examples' end-to-end tests (examples_harness.py) and Debian's Chromium
for the pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from examples_harness import CHROMIUM, PYODIDE, Caller

from statesync_server.testing import ServerProcess


@pytest.fixture
def callers() -> Iterator[Callable[..., Caller]]:
    """`callers(server, "ada", role="customer")`: HTTP callers, closed after the test."""
    made: list[Caller] = []

    def make(server: ServerProcess, sub: str, **claims: Any) -> Caller:
        made.append(Caller(server, sub, **claims))
        return made[-1]

    yield make
    for caller in made:
        caller.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop marked running on the main
    thread, which would break the asyncio tests after it."""
    uses = {"page", "context", "browser"}
    browser = [i for i in items if uses & set(getattr(i, "fixturenames", ()))]
    items[:] = [i for i in items if i not in browser] + browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium (`playwright install` is never needed)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if not PYODIDE.is_dir():
        pytest.skip("sdk_web/node_modules is missing (cd sdk_web && npm ci)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM)}
