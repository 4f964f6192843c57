"""A full disk (SQLite on a small tmpfs, filled while the server runs): writes are answered
`unavailable` (retryable, nothing applied), logged once for the whole episode rather than
with tracebacks per commit; once space is freed, the next write is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import small_disk as disk
from server_harness import ServerProcess, WsClient, mint
from statesync import Client


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs (mounting one needs root: skipped otherwise)."""
    with disk.small_disk(tmp_path / "disk", "4m") as mount:
        yield mount


async def test_a_full_disk_answers_unavailable_once_logged_and_recovers(small_disk: Path) -> None:
    server = ServerProcess(small_disk / "app.db").start()
    try:
        client = await WsClient.connect(server, mint("tester"))
        reply = await client.request({"type": "create", "id": "c", "machine": "counter",
                                      "instance": "full"})
        assert reply["type"] == "created", reply
        filler = disk.fill(small_disk)
        codes = []
        for n in range(300):  # the write-ahead log soon needs a page the disk has not got
            reply = await client.send_event("counter", "full", {"type": "INC"}, f"e{n}")
            codes.append("ack" if reply["type"] == "ack" else reply["code"])
            if len(codes) >= 20 and codes[-20:] == ["unavailable"] * 20:
                break
        assert codes[-20:] == ["unavailable"] * 20, codes
        assert "internal" not in codes, codes
        acked = codes.count("ack")
        sdk = Client(server.url, token=mint("sdk"))  # the SDK keeps a send answered so
        handle = await sdk.instance("counter", "full")
        reconnecting = asyncio.Event()
        sdk.on_status(lambda info: info["status"] == "reconnecting" and reconnecting.set())
        sent = handle.send({"type": "INC"})
        await asyncio.wait_for(reconnecting.wait(), 30)  # refused: it reconnects to resend
        assert not sent.done()

        filler.unlink()  # space again: the same event, resent, is applied
        reply = await client.send_event("counter", "full", {"type": "INC"}, f"e{len(codes) - 1}")
        assert reply["type"] == "ack" and reply["seq"] == acked + 1, reply
        assert await asyncio.wait_for(sent, 30) == acked + 2  # the SDK's, resent meanwhile
        await sdk.close()
        state = await client.request({"type": "get", "id": "g", "machine": "counter",
                                      "instance": "full"})
        assert state["context"]["count"] == acked + 2, state
        log = server.log()
        assert len([line for line in log.splitlines() if "database unavailable" in line]) == 1, log
        assert "database available again" in log
        assert "Traceback" not in log
    finally:
        server.stop()
