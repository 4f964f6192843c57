"""Child instances across cluster processes (docs/workflows.md, "Child machines"): a parent
on one process, its child's creation taken over by another after a SIGKILL, the parent's
send_to, the child's send_parent and done event through the other process, exactly once."""

from __future__ import annotations

import json
import time
from pathlib import Path

from server_harness import ServerProcess, WsClient, mint
from statesync_server.testing.postgres import query

CHILDAPP = str(Path(__file__).parent.parent / "workflows" / "apps" / "childapp.py")


def _wait(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


async def test_a_child_outlives_the_process_that_started_it(statesync_postgres) -> None:
    url = statesync_postgres.create_database("cluster_children")
    a, b = (ServerProcess(url, "--cluster-lease", "1.5", app=CHILDAPP).start() for _ in range(2))
    try:
        alice = await WsClient.connect(a, mint("alice"))
        reply = await alice.request({"type": "create", "id": "c1", "machine": "order",
                                     "instance": "o1", "input": {"amount": 9}})
        assert reply["type"] == "created", reply
        a.kill()  # SIGKILL, perhaps before the child's creation was delivered: b takes it over
        alice = await WsClient.connect(b, mint("alice"))

        def child_status() -> str | None:
            rows = query(url, "SELECT status FROM instances WHERE machine='payment' AND name='o1~pay~0'")
            return rows[0][0] if rows else None

        _wait(lambda: child_status() == "active", "the child instance")
        ack = await alice.send_event("order", "o1", {"type": "NUDGE"}, "nudge-1")
        assert ack["type"] == "ack", ack

        def parent() -> dict | None:
            rows = query(url, "SELECT snapshot FROM instances WHERE machine='order' AND name='o1'")
            snapshot = json.loads(rows[0][0])
            return snapshot if snapshot["value"] == "paid" else None

        snapshot = _wait(parent, "the parent to take the done event")
        assert snapshot["context"]["receipt"] == {"ok": True, "amount": 9, "pings": 0}
        assert snapshot["context"]["progress"] == [9]
        types = [json.loads(r[0])["type"] for r in query(
            url, "SELECT event FROM events WHERE machine='order' AND instance='o1' ORDER BY seq")]
        assert types.count("xstate.done.actor.pay") == 1 and types.count("PROGRESS") == 1, types
        assert [tuple(r) for r in query(url, "SELECT kind, status FROM outbox WHERE kind='child'")] == [
            ("child", "done")]
        await alice.close()
    finally:
        for server in (a, b):
            server.stop()
