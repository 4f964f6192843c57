"""`emit(...)` and `log(...)` on a real server: an emitted event reaches the instance's
authorized subscribers, each as it may see it, after the update of its transition; it is kept
with its transition's log row only (for the subscribers a cluster process catches up from the
log), never replayed to a new subscription; a transition that only emits is authorized and
logged like any; a log line names the instance."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_harness import ServerProcess, WsClient, mint

from statesync_server.store.schema import metadata
from statesync_server.testing.postgres import query

EMITAPP = str(Path(__file__).parent / "apps" / "emitapp.py")


def emitted(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m["event"] for m in messages if m["type"] == "emitted"]


async def subscribe(client: WsClient, name: str, **extra: Any) -> dict[str, Any]:
    return await client.request({"type": "subscribe", "id": "s", "machine": "checkout", "instance": name, **extra})


async def wait_for_line(server: ServerProcess, needle: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(server.lines):
            if needle in line:
                return line
        await asyncio.sleep(0.05)
    raise AssertionError(f"no server log line with {needle!r}:\n{''.join(server.lines)}")


def stored_text(server: ServerProcess, *, but: str) -> str:
    """Every row of every table but one of the server's database, as text."""
    return "\n".join(repr(row) for table in metadata.sorted_tables if table.name != but
                     for row in query(server.db, f"SELECT * FROM {table.name}"))


async def test_emitted_events_reach_authorized_subscribers_only_and_are_never_replayed(
        start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(app=EMITAPP)
    alice = await WsClient.connect(server, mint("alice"))
    sam = await WsClient.connect(server, mint("sam", role="support"))
    audrey = await WsClient.connect(server, mint("audrey", role="auditor"))
    bob = await WsClient.connect(server, mint("bob"))
    created = await alice.request({"type": "create", "id": "c", "machine": "checkout", "instance": "o1",
                                   "input": {"owner": "alice"}})
    assert created["type"] == "created", created
    for client in (alice, sam, audrey):
        assert (await subscribe(client, "o1"))["type"] == "subscribed"
    refused = await subscribe(bob, "o1")
    assert refused["type"] == "error" and refused["code"] == "forbidden"

    ack = await alice.send_event("checkout", "o1", {"type": "FAIL", "reason": "card declined"}, "e1")
    assert ack["type"] == "ack" and ack["seq"] == 1
    for client in (alice, sam, audrey):
        last = await client.expect(lambda m: m["type"] == "emitted" and m["event"]["type"] == "retryAllowed")
        assert last["seq"] == 1
    # per reader: the owner sees that it failed, support why, the auditor (history grant) all of it
    assert emitted(alice.inbox) == [{"type": "paymentFailed"}]
    assert emitted(sam.inbox) == [{"type": "paymentFailed", "reason": "card declined"}]
    assert emitted(audrey.inbox) == [{"type": "paymentFailed", "reason": "card declined", "note": "denilced drac"}]
    # after the update of the transition that emitted it, with its seq
    assert [m["type"] for m in alice.inbox if m.get("seq") == 1] == ["update", "emitted"]
    assert await bob.quiet(0.3) == []

    line = await wait_for_line(server, "machine log checkout/o1 seq=1")
    assert 'payment failed: {"failures": 1}' in line

    # an event that only emits is still authorized (support may read, not write) and logged
    refused = await sam.send_event("checkout", "o1", {"type": "PING", "n": 1}, "x1")
    assert refused["type"] == "reject" and refused["code"] == "forbidden"
    await alice.send_event("checkout", "o1", {"type": "PING", "n": 7}, "e2")
    pong = await sam.expect(lambda m: m["type"] == "emitted" and m["event"]["type"] == "pong")
    assert pong == {"type": "emitted", "machine": "checkout", "instance": "o1", "seq": 2,
                    "event": {"type": "pong", "n": 7}}
    await alice.send_event("checkout", "o1", {"type": "PAID"}, "e3")
    thanks = await alice.expect(lambda m: m["type"] == "emitted" and m["event"]["type"] == "thanks")
    assert thanks["seq"] == 3

    rows = query(server.db, "SELECT seq, event FROM events WHERE instance = ? ORDER BY seq", "o1")
    assert [(row[0], json.loads(row[1])["type"]) for row in rows] == [
        (0, "xstate.init"), (1, "FAIL"), (2, "PING"), (3, "PAID")]

    # stored with its transition's log row only (as the machine made it, like the event
    # sent: each reader is sent what it may see of it), in no other table
    emitted_rows = {row[0]: json.loads(row[1]) for row in query(
        server.db, "SELECT seq, emitted FROM events WHERE instance = ? AND emitted IS NOT NULL",
        "o1")}
    assert [e["type"] for e in emitted_rows[1]] == ["paymentFailed", "retryAllowed"]
    assert emitted_rows[1][0]["note"] == "denilced drac"
    assert [e["type"] for e in emitted_rows[2]] == ["pong"] and set(emitted_rows) == {1, 2, 3}
    stored = stored_text(server, but="events")
    assert "denilced drac" not in stored and "retryAllowed" not in stored and "pong" not in stored

    # a replay (after a restart, subscribing from seq 0) brings the updates, not the emitted events
    server.restart()
    replayed = await WsClient.connect(server, mint("audrey", role="auditor"))
    await subscribe(replayed, "o1", since=0)
    await replayed.update("o1", seq=3)
    assert [m for m in await replayed.quiet(0.3) if m["type"] == "emitted"] == []
    for client in (alice, sam, audrey, bob, replayed):
        await client.close()
