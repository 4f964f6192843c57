"""Helpers for the hostile-input tests: a real server running tests/security/apps/hostileapp.py,
a fingerprint of every row in its SQLite file, a well-behaved client's round trip, raw frames
and the server's resident memory.

Reuses tests/server/server_harness.py (ServerProcess, WsClient, mint).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_harness import SECRET, ServerProcess, WsClient, mint

HOSTILE_APP = str(Path(__file__).parent / "apps" / "hostileapp.py")
WAIT = 10.0
"""Generous bound (seconds) on any single reply: the tests never measure tight margins."""

__all__ = ["HOSTILE_APP", "SECRET", "WAIT", "ServerProcess", "WsClient", "assert_serving",
           "fingerprint", "first_reply", "mint", "reset_peak", "rss_mb", "start_hostile",
           "unchanged"]


def start_hostile(db: Path, *args: str) -> ServerProcess:
    return ServerProcess(db, *args, app=HOSTILE_APP).start()


def fingerprint(db: Path) -> str:
    """SHA-256 over every row of every table (sorted, so row order does not matter)."""
    digest = hashlib.sha256()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for table in tables:
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            digest.update(f"{table}:{len(rows)}:".encode())
            for row in rows:
                digest.update(row.encode())
    return digest.hexdigest()


def rss_mb(server: ServerProcess, field: str = "VmRSS") -> float:
    """The server process's resident memory from /proc, in MB: now (`VmRSS`) or the peak
    since `reset_peak` (`VmHWM`)."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1]) / 1024


def reset_peak(server: ServerProcess) -> None:
    """Reset the process's peak resident memory (`VmHWM`) to its current size."""
    assert server.proc is not None
    Path(f"/proc/{server.proc.pid}/clear_refs").write_text("5")


async def assert_serving(server: ServerProcess) -> None:
    """A well-behaved client creates, sends, reads (WebSocket and HTTP) and sees health."""
    name = f"ok-{uuid.uuid4().hex[:12]}"
    token = mint("good-citizen")
    client = await WsClient.connect(server, token)
    try:
        created = await client.request({"type": "create", "id": "c", "machine": "counter",
                                        "instance": name})
        assert created["type"] == "created", created
        ack = await client.send_event("counter", name, {"type": "INC", "by": 2}, "e1")
        assert (ack["type"], ack["seq"]) == ("ack", 1), ack
        state = await client.request({"type": "get", "id": "g", "machine": "counter",
                                      "instance": name})
        assert state["context"] == {"count": 2}, state
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as http:
        assert (await http.get("/v1/health")).json() == {"ok": True}
        reply = await http.get(f"/v1/instances/counter/{name}",
                               headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()["seq"] == 1, reply.text


@contextlib.asynccontextmanager
async def unchanged(server: ServerProcess) -> AsyncIterator[None]:
    """The block changes no row of the database, and the server still serves afterwards."""
    before = fingerprint(server.db)
    yield
    await asyncio.sleep(0.05)  # let anything the attack wrongly queued reach the commit
    assert fingerprint(server.db) == before, "the database changed"
    await assert_serving(server)


async def first_reply(client: WsClient, frame: str | bytes) -> dict[str, Any]:
    """Send one raw frame; the first message the server answers with."""
    await client.ws.send(frame)
    return json.loads(await asyncio.wait_for(client.ws.recv(), WAIT))
