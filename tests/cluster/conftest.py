"""Three real server processes on one real PostgreSQL database (docs/deployment.md)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_harness import ServerProcess  # noqa: E402

APP = str(Path(__file__).parent / "apps" / "clusterapp.py")
LEASE = 1.5
"""The test processes' `--cluster-lease`: a killed process's work is taken over this fast."""

_names = itertools.count()


@pytest.fixture
def cluster(statesync_postgres, monkeypatch) -> Iterator[Callable[..., list[ServerProcess]]]:
    """`cluster(3)`: that many processes serving the cluster test app on a fresh database
    (`stall=[0]`: process 0's services hang, to be killed mid-job; `join=server`: on the
    database of that earlier process instead)."""
    started: list[ServerProcess] = []

    def start(count: int = 3, *, stall: tuple[int, ...] = (),
              join: ServerProcess | None = None) -> list[ServerProcess]:
        url = join.database_url if join else statesync_postgres.create_database(
            f"cluster_{next(_names)}")
        servers = []
        for index in range(count):
            monkeypatch.setenv("STATESYNC_TEST_STALL", "1" if index in stall else "0")
            server = ServerProcess(url, "--cluster-lease", str(LEASE), app=APP).start()
            started.append(server)
            servers.append(server)
        monkeypatch.delenv("STATESYNC_TEST_STALL")
        return servers

    yield start
    for server in started:
        server.stop()

