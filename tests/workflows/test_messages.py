"""Messages between instances: once, in order per pair, authorized with the sender's identity."""

from __future__ import annotations

from server_harness import WsClient, mint


async def _create(client: WsClient, machine: str, instance: str, input=None) -> dict:
    reply = await client.request({"type": "create", "id": f"c-{machine}-{instance}",
                                  "machine": machine, "instance": instance, "input": input})
    assert reply["type"] == "created", reply
    return reply


async def _get(client: WsClient, machine: str, instance: str) -> dict:
    return await client.request({"type": "get", "id": f"g-{instance}", "machine": machine,
                                 "instance": instance})


async def test_send_to_delivers_once_in_order_with_the_sender_as_origin(flow) -> None:
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "sink", "box")
    for name in ("a", "b"):
        await _create(client, "sender", name, {"sink": "box", "me": name})
    for i in range(20):  # pipelined: no waiting for acks
        for name in ("a", "b"):
            await client.send({"type": "send", "machine": "sender", "instance": name,
                               "event": {"type": "PING"}, "event_id": f"{name}{i}"})
    for i in range(20):
        for name in ("a", "b"):
            await client.expect(lambda m, e=f"{name}{i}": m.get("event_id") == e and m["type"] == "ack")
    flow.wait(lambda: len(flow.log("sink", "box")) == 41, what="40 messages")
    state = await _get(client, "sink", "box")
    assert state["context"]["got"] == {"a": list(range(1, 21)), "b": list(range(1, 21))}
    log = flow.log("sink", "box")
    assert {(r["origin"], r["subject"]) for r in log[1:]} == {("instance", "sender/a"),
                                                             ("instance", "sender/b")}
    assert len({r["event_id"] for r in log[1:]}) == 40
    assert {r["status"] for r in flow.query("SELECT status FROM outbox")} == {"done"}
    await client.close()


async def test_receiver_authorizes_with_the_sending_instance(flow) -> None:
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "sink", "box")
    # a client may not send MSG to a sink itself ...
    reject = await client.send_event("sink", "box", {"type": "MSG", "n": 1, "from": "me"}, "x")
    assert reject["type"] == "reject" and reject["code"] == "forbidden"
    # nor use the server's event ids (it could block a message or a timer with them)
    reject = await client.send_event("sink", "box", {"type": "CLOSE"}, "~msg:sender/s/1/0")
    assert reject["type"] == "reject" and reject["code"] == "invalid-message"
    # ... a `sender` instance may; a message to a missing instance fails, and is listed
    await _create(client, "sender", "s", {"sink": "nowhere", "me": "s"})
    await client.send_event("sender", "s", {"type": "PING"}, "p1")
    flow.wait(lambda: flow.query("SELECT status FROM outbox")[0][0] == "failed", what="failed")
    assert "not-found" in flow.query("SELECT error FROM outbox")[0][0]
    # an event the receiver does not take in its state is consumed and marked ignored
    await _create(client, "sender", "t", {"sink": "box", "me": "t"})
    await client.send_event("sink", "box", {"type": "CLOSE"}, "close")
    await client.send_event("sender", "t", {"type": "PING"}, "p2")
    flow.wait(lambda: len(flow.query("SELECT 1 FROM outbox WHERE status='ignored'")) == 1,
              what="ignored")
    assert (await _get(client, "sink", "box"))["seq"] == 1
    await client.close()


async def test_create_instance_creates_once_with_the_sender_identity(flow) -> None:
    server = flow.start()
    client = await WsClient.connect(server, mint("alice"))
    await _create(client, "sender", "s", {"me": "s"})
    await client.send_event("sender", "s", {"type": "SPAWN", "name": "child"}, "e1")
    await client.send_event("sender", "s", {"type": "SPAWN", "name": "child"}, "e2")  # exists: no-op
    flow.wait(lambda: len(flow.query("SELECT 1 FROM outbox WHERE status='done'")) == 2,
              what="both delivered")
    state = await _get(client, "sink", "child")
    assert state["seq"] == 0 and state["context"]["creator"] == "sender"
    log = flow.log("sink", "child")
    assert [(r["origin"], r["subject"]) for r in log] == [("instance", "sender/s")]
    await client.close()
