"""Fixtures for the workflow tests: real `statesync serve` processes running apps/flowapp.py
on a fresh database of the test's backend, with every effect and service run recorded to a file."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_harness import ServerProcess

from statesync_server.testing.postgres import Databases, Row, query

FLOWAPP = str(Path(__file__).parent / "apps" / "flowapp.py")


class Flow:
    """A server of the flow app, its database and its record of effect runs."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 databases: Databases) -> None:
        self.db = databases.new("flow")
        """The database's URL."""
        self.record = tmp_path / "record.jsonl"
        monkeypatch.setenv("FLOWAPP_RECORD", str(self.record))
        self.servers: list[ServerProcess] = []

    def start(self, *args: str, app: str = FLOWAPP, clock: str = "system") -> ServerProcess:
        """A server of `app` on this flow's database; with `clock="manual"` on virtual time
        (`await server.advance(seconds=...)`)."""
        server = ServerProcess(self.db, *args, app=app, clock=clock).start()
        self.servers.append(server)
        return server

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [r for r in lines if kind is None or r["kind"] == kind]

    def query(self, sql: str, *args: Any) -> list[Row]:
        """Rows of `sql` (`?` placeholders) read from the database right now."""
        return query(self.db, sql, *args)

    def log(self, machine: str, instance: str) -> list[dict[str, Any]]:
        rows = self.query("SELECT * FROM events WHERE machine=? AND instance=? ORDER BY seq",
                          machine, instance)
        return [{**dict(r), "event": json.loads(r["event"])} for r in rows]

    def wait(self, check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or check}")
            time.sleep(0.02)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         databases: Databases) -> Iterator[Flow]:
    f = Flow(tmp_path, monkeypatch, databases)
    yield f
    f.stop()
