"""Stopping the server process and starting it on the same database loses nothing."""

from __future__ import annotations

from server_harness import WsClient, mint


async def test_restart_keeps_state_log_and_idempotency(start_server) -> None:
    first = start_server()
    client = await WsClient.connect(first, mint("alice"))
    await client.request({"type": "create", "id": 1, "machine": "doc", "instance": "d",
                          "input": {"owner": "alice"}})
    await client.request({"type": "create", "id": 2, "machine": "counter", "instance": "c"})
    for i in range(20):
        await client.send({"type": "send", "machine": "counter", "instance": "c",
                           "event": {"type": "INC"}, "event_id": f"e{i}"})
    acks = [await client.expect(lambda m, i=i: m.get("event_id") == f"e{i}") for i in range(20)]
    assert [a["seq"] for a in acks] == list(range(1, 21))
    await client.send_event("doc", "d", {"type": "EDIT", "body": "kept"}, "d1")
    await client.close()
    first.stop()

    second = start_server()  # the same database
    assert "doc v1 (1 instances), counter v1 (1 instances)" in second.log()
    client = await WsClient.connect(second, mint("alice"))
    counter = await client.request({"type": "get", "id": 3, "machine": "counter", "instance": "c"})
    assert (counter["seq"], counter["context"]) == (20, {"count": 20})
    doc = await client.request({"type": "get", "id": 4, "machine": "doc", "instance": "d"})
    assert doc["context"]["body"] == "kept"
    resent = await client.send_event("counter", "c", {"type": "INC"}, "e7")
    assert (resent["seq"], resent["duplicate"]) == (8, True)
    assert (await client.send_event("counter", "c", {"type": "INC"}, "new"))["seq"] == 21
    await client.request({"type": "subscribe", "id": 5, "machine": "counter", "instance": "c",
                          "since": 18})
    assert [(await client.update("c"))["seq"] for _ in range(3)] == [19, 20, 21]
    await client.close()
