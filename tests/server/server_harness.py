"""Test harness: a real `statesync serve` process on a free loopback port, and clients."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import jwt
import websockets

SECRET = "test-secret-not-for-production-use-0123456789"
APP = str(Path(__file__).parent / "apps" / "testapp.py")
TIMEOUT = 5.0


def mint(sub: str, *, ttl: int = 600, secret: str = SECRET, algorithm: str = "HS256",
         **claims: Any) -> str:
    """A token like `statesync token` makes (aud and iss 'statesync')."""
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl, "aud": "statesync", "iss": "statesync",
               **claims}
    return jwt.encode(payload, secret, algorithm=algorithm)


class ServerProcess:
    """`python -m statesync_server serve APP` with a given database file."""

    def __init__(self, db: Path, *args: str, app: str = APP) -> None:
        self.db, self.app, self.args = db, app, args
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.url = ""

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/ws"

    def start(self) -> ServerProcess:
        command = [sys.executable, "-m", "statesync_server", "serve", self.app, "--port", "0",
                   "--database-url", f"sqlite+aiosqlite:///{self.db}", *self.args]
        env = {**os.environ, "STATESYNC_SECRET": SECRET}
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=env, cwd=self.db.parent)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                found = re.search(r"statesync serving (http://\S+)", line)
                if found:
                    self.url = found.group(1)
                if "Application startup complete" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20):
            self.stop()
            raise RuntimeError("server did not start:\n" + "".join(self.lines))
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return "".join(self.lines)


class WsClient:
    """A `websockets` client that buffers what it receives and waits for matches."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, server: ServerProcess, token: str | None = None) -> WsClient:
        client = cls(await websockets.connect(server.ws_url, max_size=None))
        if token is not None:
            reply = await client.request({"type": "auth", "token": token, "id": "auth"})
            assert reply["type"] == "authed", reply
        return client

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def expect(self, match: Callable[[dict[str, Any]], bool],
                     timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first buffered or incoming message that `match`es (removed from the buffer)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, message in enumerate(self.inbox):
                if match(message):
                    return self.inbox.pop(i)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching message; received {self.inbox}")
            raw = await asyncio.wait_for(self.ws.recv(), remaining)
            self.inbox.append(json.loads(raw))

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send a message with an `id` and wait for the reply carrying the same id."""
        await self.send(message)
        return await self.expect(lambda m: m.get("id") == message["id"])

    async def send_event(self, machine: str, instance: str, event: dict[str, Any],
                         event_id: str) -> dict[str, Any]:
        """Send an event; the `ack` or `reject` for it."""
        await self.send({"type": "send", "machine": machine, "instance": instance,
                         "event": event, "event_id": event_id})
        return await self.expect(
            lambda m: m["type"] in ("ack", "reject") and m.get("event_id") == event_id)

    async def update(self, instance: str, seq: int | None = None) -> dict[str, Any]:
        return await self.expect(lambda m: m["type"] == "update" and m["instance"] == instance
                                 and (seq is None or m["seq"] == seq))

    async def quiet(self, seconds: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (to check nothing else was sent)."""
        try:
            while True:
                self.inbox.append(json.loads(await asyncio.wait_for(self.ws.recv(), seconds)))
        except TimeoutError:
            pass
        messages, self.inbox = self.inbox, []
        return messages

    async def close(self) -> None:
        await self.ws.close()
