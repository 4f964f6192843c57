"""Playwright fixtures: Debian's Chromium, the example app on a real server, a delay proxy."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import (BOARD_APP, CHROMIUM, EXAMPLE_APP, PAGES_HOST, PYODIDE, REPO, SECRET,
                         DelayProxy)
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

ARTIFACTS = REPO / "artifacts" / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps its event loop marked as running
    on the main thread until the session ends, which would break every later asyncio test."""
    browser = [item for item in items if _uses_browser(item)]
    items[:] = [item for item in items if not _uses_browser(item)] + browser


def _uses_browser(item: pytest.Item) -> bool:
    return bool({"page", "context", "browser", "statesync_page", "statesync_browser"}
                & set(getattr(item, "fixturenames", ())))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use Debian's Chromium; `playwright install` is never needed."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if not PYODIDE.is_dir():
        pytest.skip("sdk_web/node_modules is missing (cd sdk_web && npm ci)")
    # `pages.test` is 127.0.0.1 for the browser: pages of another origin than the servers'
    # (tests/e2e/test_origins.py), under a name that is no loopback name
    args = [*browser_type_launch_args.get("args", []),
            f"--host-resolver-rules=MAP {PAGES_HOST} 127.0.0.1"]
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": args}


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`serve(app=EXAMPLE_APP, *options)`: `statesync serve` of `app` on a fresh SQLite
    database, started now and stopped after the test (its log printed: pytest shows it when
    the test failed). `kill()` + `start()` restarts one on the same port and file."""
    started: list[ServerProcess] = []

    def start(app: Path = EXAMPLE_APP, *options: str) -> ServerProcess:
        database = tmp_path / f"e2e-{len(started)}.db"
        started.append(ServerProcess(app, database, *options, secret=SECRET).start())
        return started[-1]

    yield start
    for process in reversed(started):
        process.stop()
        print(process.log())


@pytest.fixture
def relay_to() -> Iterator[Callable[[ServerProcess], DelayProxy]]:
    """`relay_to(server)`: a `DelayProxy` in front of `server`, stopped after the test."""
    relays: list[DelayProxy] = []

    def start(server: ServerProcess) -> DelayProxy:
        relays.append(DelayProxy(server.port).start())
        return relays[-1]

    yield start
    for relay in relays:
        relay.stop()


@pytest.fixture
def server(serve: Callable[..., ServerProcess]) -> ServerProcess:
    """The example app on a real server."""
    return serve()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A copy of the example app, whose machine module a test can change."""
    copy = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP.parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
def board(serve: Callable[..., ServerProcess]) -> ServerProcess:
    """The task board app (tests/e2e/apps/board) on a real server."""
    return serve(BOARD_APP)


@pytest.fixture
def blank(page: Page, server: ServerProcess) -> Page:
    """A page of the server's origin that loads nothing by itself."""
    page.set_default_timeout(60_000)  # Pyodide's cold start, on a busy CI box
    page.goto(f"{server.url}/statesync/manifest.json")
    return page


@pytest.fixture
def proxy(server: ServerProcess, relay_to: Callable[[ServerProcess], DelayProxy]) -> DelayProxy:
    """A TCP proxy in front of `server` whose `delay` slows every byte both ways."""
    return relay_to(server)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (`artifacts/e2e/`, not versioned)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
