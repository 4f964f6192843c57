"""The examples' end-to-end harness: `statesync serve examples/<name>/app.py` as a real
process on 127.0.0.1 with a temporary SQLite file (on virtual time), the `statesync` command,
and HTTP callers holding tokens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from statesync_server.testing import ServerProcess

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SECRET = "examples-secret-not-for-production-use-0123456789"
CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's; `playwright install` is never used
PYODIDE = REPO / "sdk_web" / "node_modules" / "pyodide"


def example(name: str) -> Path:
    return EXAMPLES / name / "app.py"


class ExampleServer(ServerProcess):
    """`statesync serve app --clock manual` on `db` (virtual time: timers fire when the test
    calls `advance`) with environment variables of its own, set again on every (re)start."""

    def __init__(self, app: Path, db: Path, env: dict[str, str]) -> None:
        super().__init__(app, db, secret=SECRET, clock="manual")
        self.env = env

    def start(self) -> ExampleServer:
        saved = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        try:
            super().start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        return self


def serve(app: Path, db: Path, **env: str) -> ExampleServer:
    """Start `statesync serve app --clock manual` on `db` with these environment variables."""
    return ExampleServer(app, db, env).start()


def statesync_cli(*args: str, env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `statesync` command (the console script next to this Python)."""
    script = Path(sys.executable).with_name("statesync")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "statesync_server"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "STATESYNC_SECRET": SECRET, **(env or {})}, cwd=cwd)


class Caller:
    """Someone holding a token, talking to a server over HTTP."""

    def __init__(self, server: ServerProcess, sub: str, **claims: Any) -> None:
        self.sub, self.server = sub, server
        self.token = server.mint(sub, **claims)
        self.http = httpx.Client(base_url=server.url, timeout=30,
                                 headers={"authorization": f"Bearer {self.token}"})

    def create(self, machine: str, name: str, input: Any) -> httpx.Response:
        return self.http.post(f"/v1/instances/{machine}/{name}", json={"input": input})

    def send(self, machine: str, name: str, event: dict[str, Any]) -> httpx.Response:
        return self.http.post(f"/v1/instances/{machine}/{name}/events",
                              json={"event": event, "event_id": uuid.uuid4().hex})

    def get(self, machine: str, name: str) -> httpx.Response:
        return self.http.get(f"/v1/instances/{machine}/{name}")

    def state(self, machine: str, name: str) -> dict[str, Any]:
        response = self.get(machine, name)
        assert response.status_code == 200, response.text
        return response.json()

    def log(self, machine: str, name: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/instances/{machine}/{name}/events",
                                 params={"limit": 1000})
        assert response.status_code == 200, response.text
        return response.json()["entries"]

    def query(self, machine: str, index: str, op: str, value: Any) -> httpx.Response:
        return self.http.get(f"/v1/query/{machine}/{index}",
                             params={"op": op, "value": json.dumps(value), "limit": 1000})

    def wait(self, machine: str, name: str, check: Callable[[dict[str, Any]], bool],
             timeout: float = 20.0) -> dict[str, Any]:
        """Poll the instance until this caller may read it and `check(state)` holds: bounded,
        never a fixed sleep."""
        last: list[str] = []

        def ready() -> dict[str, Any] | None:
            response = self.get(machine, name)
            last[:] = [response.text]
            state = response.json() if response.status_code == 200 else None
            return state if state is not None and check(state) else None

        try:
            return wait_until(ready, timeout, f"{machine}/{name}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last answer: {last}") from None

    def close(self) -> None:
        self.http.close()


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """The first truthy `check()`, polled every 20 ms for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.02)
