"""Fixtures for the workflow tests: real `statesync serve` processes running apps/flowapp.py
on a temporary SQLite file, with every effect and service run recorded to a file."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_harness import ServerProcess

FLOWAPP = str(Path(__file__).parent / "apps" / "flowapp.py")


class Flow:
    """A server of the flow app, its database and its record of effect runs."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.db = tmp_path / "flow.db"
        self.record = tmp_path / "record.jsonl"
        monkeypatch.setenv("FLOWAPP_RECORD", str(self.record))
        self.servers: list[ServerProcess] = []

    def start(self, *args: str, app: str = FLOWAPP) -> ServerProcess:
        server = ServerProcess(self.db, *args, app=app).start()
        self.servers.append(server)
        return server

    def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        lines = [json.loads(line) for line in self.record.read_text().splitlines() if line]
        return [r for r in lines if kind is None or r["kind"] == kind]

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

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
def flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    f = Flow(tmp_path, monkeypatch)
    yield f
    f.stop()
