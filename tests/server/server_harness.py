"""Test harness: a real `statesync serve` process (`statesync_server.testing`), and clients."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from collections.abc import Iterator, Mapping
from typing import Any, Callable

import jwt
import websockets

from statesync_server import testing

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


class Bearer(Mapping[str, str]):
    """An `Authorization` header whose token is minted each time it is read, so a module-level
    constant stays valid however late in a long suite a test uses it."""

    def __init__(self, sub: str, **claims: Any) -> None:
        self.sub, self.claims = sub, claims

    def __getitem__(self, key: str) -> str:
        if key != "Authorization":
            raise KeyError(key)
        return f"Bearer {mint(self.sub, **self.claims)}"

    def __iter__(self) -> Iterator[str]:
        return iter(("Authorization",))

    def __len__(self) -> int:
        return 1


class ServerProcess(testing.ServerProcess):
    """The test app (or `app`) served from the database file `db`, with the test secret."""

    def __init__(self, db: Path, *args: str, app: str = APP, clock: str = "system") -> None:
        super().__init__(app, db, *args, secret=SECRET, clock=clock)


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
