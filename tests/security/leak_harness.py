"""Helpers for the privacy tests: a real server running the secret app, clients that keep
every byte they receive, and a search for secret markers in all of it (base64 decoded too).

Reuses tests/server/server_harness.py (ServerProcess, WsClient, mint).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_harness import ServerProcess, WsClient, mint  # noqa: E402

SECRET_APP = str(Path(__file__).parent / "apps" / "secretapp.py")

__all__ = ["SECRET_APP", "Caller", "Haystack", "Http", "RecordingWs", "ServerProcess",
           "WsClient", "callers", "create_all", "mint", "query_params", "run_with_log", "secret",
           "start_secret_server"]


def secret(label: str) -> str:
    """A unique marker that must never reach a reader: `SECRET-<label>-<hex>`."""
    return f"SECRET-{label}-{uuid.uuid4().hex}"


def start_secret_server(db: Path, *args: str) -> ServerProcess:
    return ServerProcess(db, *args, app=SECRET_APP).start()


def run_with_log(server: ServerProcess, coroutine: Any) -> Any:
    """`asyncio.run(coroutine)` for module-scoped set-ups; a failure shows the server's log."""
    import asyncio

    try:
        return asyncio.run(coroutine)
    except Exception as exc:
        raise AssertionError(f"set-up failed: {exc!r}\n--- server log (tail) ---\n"
                             + server.log()[-6000:]) from exc


# --- what a client received ------------------------------------------------------------------

_BASE64ISH = re.compile(r"^[A-Za-z0-9+/_=-]{8,}$")


def _b64_decodings(text: str) -> Iterator[str]:
    """`text` decoded as base64 (URL-safe or standard, padding optional), when it is."""
    if not _BASE64ISH.match(text):
        return
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            yield decode(padded).decode("latin-1")
        except (binascii.Error, ValueError):
            continue


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@dataclass
class Haystack:
    """Every raw frame and body one caller received on one read path."""

    texts: list[str] = field(default_factory=list)

    def add(self, text: str | bytes) -> None:
        self.texts.append(text.decode("utf-8", "replace") if isinstance(text, bytes) else text)

    def expanded(self) -> Iterator[str]:
        """The texts, and every JSON string in them decoded as base64 when it is (cursors)."""
        for text in self.texts:
            yield text
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            for string in _strings(parsed):
                yield from _b64_decodings(string)

    def found(self, markers: Iterable[str]) -> list[str]:
        """`marker: ...context...` for each marker found (empty: nothing leaked)."""
        hits = []
        for text in self.expanded():
            for marker in markers:
                at = text.find(marker)
                if at >= 0:
                    hits.append(f"{marker}: ...{text[max(0, at - 150):at + 80]}...")
        return hits

    def size(self) -> int:
        return sum(len(t) for t in self.texts)


class _Tap:
    """A websockets connection that copies every received frame into a haystack."""

    def __init__(self, ws: Any, sink: list[Haystack]) -> None:
        self._ws, self.sink = ws, sink

    async def recv(self) -> Any:
        frame = await self._ws.recv()
        self.sink[0].add(frame)
        return frame

    async def send(self, message: Any) -> None:
        await self._ws.send(message)

    async def close(self) -> None:
        await self._ws.close()


class RecordingWs(WsClient):
    """A `WsClient` whose received frames all land in `haystack` (switch it with `record`)."""

    def __init__(self, ws: Any, haystack: Haystack) -> None:
        self._sink = [haystack]
        super().__init__(_Tap(ws, self._sink))

    @classmethod
    async def open(cls, server: ServerProcess, token: str,
                   haystack: Haystack | None = None) -> RecordingWs:
        import websockets

        ws = await websockets.connect(server.ws_url, max_size=None)
        client = cls(ws, Haystack() if haystack is None else haystack)
        reply = await client.request({"type": "auth", "token": token, "id": "auth"})
        assert reply["type"] == "authed", reply
        return client

    def record(self, haystack: Haystack) -> None:
        """Put what arrives from now on into `haystack` (buffered messages stay where they were
        recorded)."""
        self._sink[0] = haystack

    async def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """`request` with a fresh id."""
        return await self.request({**message, "id": uuid.uuid4().hex})

    async def query(self, **fields: Any) -> dict[str, Any]:
        return await self.call({"type": "query", **fields})


class Http:
    """An HTTP client for one caller that records every response body into a haystack."""

    def __init__(self, server: ServerProcess, token: str, haystack: Haystack | None = None) -> None:
        self.client = httpx.AsyncClient(base_url=server.url, timeout=10.0,
                                        headers={"Authorization": f"Bearer {token}"})
        self.haystack = Haystack() if haystack is None else haystack

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        response = await self.client.request(method, path, **kwargs)
        self.haystack.add(response.content)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return response.status_code, body

    async def get(self, path: str, **params: Any) -> tuple[int, Any]:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("POST", path, json=body)

    async def close(self) -> None:
        await self.client.aclose()


def query_params(op: str, value: Any, order: str = "asc", limit: int = 50,
                 cursor: str | None = None) -> dict[str, Any]:
    """`GET /v1/query/...` parameters (the value as JSON, so `"42"` stays a string)."""
    params = {"op": op, "value": json.dumps(value), "order": order, "limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    return params


async def create_all(server: ServerProcess, owner: str, machine: str,
                     inputs: dict[str, dict[str, Any]]) -> None:
    """Create `machine` instances as `owner`: instance name -> input."""
    ws = await RecordingWs.open(server, mint(owner))
    for name, data in inputs.items():
        reply = await ws.call({"type": "create", "machine": machine, "instance": name,
                               "input": data})
        assert reply["type"] == "created", reply
    await ws.close()


class Caller:
    """One subject's connection to `server` over one transport: `http` (`Http`), else a
    WebSocket (`RecordingWs`); what it receives lands in `haystack`."""

    def __init__(self, server: ServerProcess, subject: str, transport: str) -> None:
        self.server, self.subject, self.transport = server, subject, transport
        self.haystack = Haystack()
        self.ws: RecordingWs | None = None
        self.http: Http | None = None

    async def open(self) -> Caller:
        token = mint(self.subject)
        if self.transport == "http":
            self.http = Http(self.server, token, self.haystack)
        else:
            self.ws = await RecordingWs.open(self.server, token, self.haystack)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()


async def callers(make: Callable[..., Caller]) -> AsyncIterator[Callable[..., Any]]:
    """A fixture's body: `open_(*args)` opens `make(*args)`; all are closed after the test."""
    opened: list[Caller] = []

    async def open_(*args: Any) -> Any:
        opened.append(await make(*args).open())
        return opened[-1]

    yield open_
    await asyncio.gather(*(caller.close() for caller in opened))
