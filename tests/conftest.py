"""Database backends for the server, workflow and versions suites.

Their fixtures take a database from `databases` (a fresh one per test) or `session_databases`
instead of naming a SQLite file, so every test using them runs once per backend of
`$STATESYNC_TEST_DB` (default: `sqlite,postgresql` when PostgreSQL is installed, else
`sqlite`). A backend that was asked for but cannot start fails the tests; it never skips.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    from statesync_server.testing.postgres import Databases, PostgresServer, backends_to_test
except ImportError:  # inside Pyodide (tests/pyodide runs the core's tests there): no server

    def backends_to_test() -> list[str]:
        return []


def pytest_report_header() -> str:
    return "statesync database backends: " + ", ".join(backends_to_test())


@pytest.fixture(scope="session", params=backends_to_test())
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgresql`: the database backend this test runs on."""
    return request.param


def _databases(request: pytest.FixtureRequest, backend: str, directory: Path) -> Databases:
    server = request.getfixturevalue("statesync_postgres") if backend == "postgresql" else None
    return Databases(backend, directory, server)


@pytest.fixture(scope="session")
def session_databases(request: pytest.FixtureRequest, backend: str,
                      tmp_path_factory: pytest.TempPathFactory) -> Databases:
    """Databases for session-scoped servers, on this test's backend."""
    return _databases(request, backend, tmp_path_factory.mktemp("databases"))


@pytest.fixture
def databases(request: pytest.FixtureRequest, backend: str,
              tmp_path: Path) -> Iterator[Databases]:
    """`databases.new("label")`: a fresh, empty database URL on this test's backend (dropped
    after the test, once the servers using it have stopped)."""
    made = _databases(request, backend, tmp_path)
    yield made
    made.drop_all()


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> PostgresServer:
    """The session's PostgreSQL server, for tests about PostgreSQL alone (e.g. several server
    processes on one database); skipped only when `$STATESYNC_TEST_DB` leaves PostgreSQL out."""
    if "postgresql" not in backends_to_test():
        pytest.skip("PostgreSQL is not among the backends tested (STATESYNC_TEST_DB)")
    return request.getfixturevalue("statesync_postgres")
