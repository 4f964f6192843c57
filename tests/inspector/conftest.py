"""Fixtures: the workshop app (nested, parallel, history, delays, a failing effect, messages)
on a real server (once per database backend of `$STATESYNC_TEST_DB`, see tests/conftest.py),
admin and ordinary tokens, and an HTTP client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from statesync_server.auth import ADMIN_CLAIM
from statesync_server.testing import ServerProcess
from statesync_server.testing.postgres import Databases

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WORKSHOP = HERE / "apps" / "workshop.py"
ARTIFACTS = REPO / "artifacts" / "inspector"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last (Playwright's sync API keeps a running event loop on the thread)."""
    browser = [i for i in items if "inspector_page" in getattr(i, "fixturenames", ())]
    items[:] = [i for i in items if i not in browser] + browser


@pytest.fixture(scope="module")
def workshop(session_databases: Databases) -> Iterator[ServerProcess]:
    server = ServerProcess(WORKSHOP, session_databases.new("inspect")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin_token(workshop: ServerProcess) -> str:
    return workshop.mint("ops", ttl=86400, **{ADMIN_CLAIM: True})  # outlives the module's tests


@pytest.fixture(scope="module")
def http(workshop: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=workshop.url, timeout=30) as client:
        yield client


@pytest.fixture
def as_admin(http: httpx.Client, admin_token: str) -> Callable[..., Any]:
    """`as_admin("GET", "/v1/admin/...", json=...)`: the response's JSON (asserting a 2xx)."""

    def call(method: str, path: str, **kwargs: Any) -> Any:
        response = http.request(method, path, headers={"authorization": f"Bearer {admin_token}"},
                                **kwargs)
        assert response.is_success, response.text
        return response.json()

    return call


@pytest.fixture
def as_user(http: httpx.Client, workshop: ServerProcess) -> Callable[..., httpx.Response]:
    """`as_user("alice", "POST", path, json=...)`: an ordinary token's request."""

    def call(sub: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = workshop.mint(sub)
        return http.request(method, path, headers={"authorization": f"Bearer {token}"}, **kwargs)

    return call
