"""The WebSocket protocol against a real server: live updates, resubscribe, idempotency."""

from __future__ import annotations

import asyncio
import time

from server_harness import ServerProcess, WsClient, mint


async def create_doc(client: WsClient, name: str, owner: str = "alice") -> dict:
    return await client.request({"type": "create", "id": f"c-{name}", "machine": "doc",
                                 "instance": name, "input": {"owner": owner}})


async def test_ping_needs_no_auth(server: ServerProcess) -> None:
    client = await WsClient.connect(server)
    assert await client.request({"type": "ping", "id": 7}) == {"type": "pong", "id": 7}
    await client.close()


async def test_create_get_and_get_or_create(alice: WsClient, name: str) -> None:
    created = await create_doc(alice, name)
    assert created["type"] == "created" and created["existed"] is False
    assert created["seq"] == 0 and created["value"] == "draft" and created["tags"] == ["editable"]
    state = await alice.request({"type": "get", "id": 1, "machine": "doc", "instance": name})
    assert state["type"] == "state" and state["seq"] == 0
    again = await alice.request({"type": "create", "id": 2, "machine": "doc", "instance": name,
                                 "input": {"owner": "alice"}, "if_exists": "get"})
    assert again["type"] == "created" and again["existed"] is True


async def test_live_updates_reach_every_subscriber(server: ServerProcess, name: str) -> None:
    owner = await WsClient.connect(server, mint("alice"))
    admins = [await WsClient.connect(server, mint(f"admin{i}", role="admin")) for i in range(3)]
    await create_doc(owner, name)
    for client in [owner, *admins]:
        reply = await client.request({"type": "subscribe", "id": "s", "machine": "doc",
                                      "instance": name})
        assert reply == {"type": "subscribed", "id": "s", "machine": "doc", "instance": name,
                         "seq": 0}
        assert (await client.update(name, 0))["value"] == "draft"
    ack = await owner.send_event("doc", name, {"type": "EDIT", "body": "hello"}, "e1")
    assert ack == {"type": "ack", "event_id": "e1", "machine": "doc", "instance": name,
                   "seq": 1, "duplicate": False}
    ack = await owner.send_event("doc", name, {"type": "PUBLISH"}, "e2")
    assert ack["seq"] == 2
    for client in [owner, *admins]:
        first, second = await client.update(name, 1), await client.update(name, 2)
        assert first["context"] == {"owner": "alice", "body": "hello"}
        assert second["value"] == "published" and second["tags"] == [] and not second["done"]
    for client in [owner, *admins]:
        await client.close()


async def test_ack_arrives_before_the_update(alice: WsClient, name: str) -> None:
    await create_doc(alice, name)
    await alice.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    await alice.update(name, 0)
    await alice.send({"type": "send", "machine": "doc", "instance": name,
                      "event": {"type": "EDIT", "body": "x"}, "event_id": "order"})
    await alice.update(name, 1)
    assert [m["type"] for m in alice.inbox] == ["ack"], "the ack was read before the update"


async def test_public_context_never_leaks(server: ServerProcess, alice: WsClient, name: str) -> None:
    created = await create_doc(alice, name)
    await alice.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    await alice.send_event("doc", name, {"type": "ADD_READER", "reader": "bob"}, "r1")
    await alice.send_event("doc", name, {"type": "EDIT", "body": "b"}, "r2")
    bob = await WsClient.connect(server, mint("bob"))
    await bob.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name,
                       "since": -1})
    await bob.update(name, 2)
    seen = [created, *await alice.quiet(), *await bob.quiet()]
    seen.append(await alice.request({"type": "get", "id": "g", "machine": "doc", "instance": name}))
    for message in seen:
        assert "s3cr3t" not in str(message) and "readers" not in str(message), message
    await bob.close()


async def test_read_authorization(alice: WsClient, bob: WsClient, name: str) -> None:
    await create_doc(alice, name)
    denied = await bob.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    assert denied["type"] == "error" and denied["code"] == "forbidden"
    denied = await bob.request({"type": "get", "id": "g", "machine": "doc", "instance": name})
    assert denied["code"] == "forbidden"
    await alice.send_event("doc", name, {"type": "ADD_READER", "reader": "bob"}, "r")
    allowed = await bob.request({"type": "subscribe", "id": "s2", "machine": "doc", "instance": name})
    assert allowed["type"] == "subscribed" and allowed["seq"] == 1


async def test_losing_read_access_ends_the_subscription(alice: WsClient, bob: WsClient,
                                                        name: str) -> None:
    await create_doc(alice, name)
    await alice.send_event("doc", name, {"type": "ADD_READER", "reader": "bob"}, "add")
    await bob.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    await bob.update(name, 1)
    await alice.send_event("doc", name, {"type": "REMOVE_READER", "reader": "bob"}, "remove")
    await alice.send_event("doc", name, {"type": "EDIT", "body": "private now"}, "edit")
    lost = await bob.expect(lambda m: m["type"] == "error")
    assert (lost["code"], lost["instance"]) == ("forbidden", name)
    assert [m for m in await bob.quiet() if m["type"] == "update"] == []


async def test_write_authorization(server: ServerProcess, alice: WsClient, bob: WsClient,
                                   name: str) -> None:
    await create_doc(alice, name)
    reject = await bob.send_event("doc", name, {"type": "EDIT", "body": "mine"}, "b1")
    assert reject["type"] == "reject" and reject["code"] == "forbidden"
    editor = await WsClient.connect(server, mint("carol", role="editor"))
    assert (await editor.send_event("doc", name, {"type": "EDIT", "body": "ok"}, "c1"))["seq"] == 1
    forged = await bob.request({"type": "create", "id": "c", "machine": "doc",
                                "instance": name + "-b", "input": {"owner": "alice"}})
    assert forged["code"] == "forbidden"
    await editor.close()


async def test_idempotent_resend(alice: WsClient, name: str) -> None:
    await create_doc(alice, name)
    first = await alice.send_event("doc", name, {"type": "ADD_READER", "reader": "x"}, "same")
    again = await alice.send_event("doc", name, {"type": "ADD_READER", "reader": "x"}, "same")
    assert (first["seq"], first["duplicate"]) == (1, False)
    assert (again["seq"], again["duplicate"]) == (1, True)
    state = await alice.request({"type": "get", "id": "g", "machine": "doc", "instance": name})
    assert state["seq"] == 1


async def test_resend_in_one_burst_is_applied_once(alice: WsClient, name: str) -> None:
    await create_doc(alice, name)
    for _ in range(5):
        await alice.send({"type": "send", "machine": "doc", "instance": name,
                          "event": {"type": "ADD_READER", "reader": "y"}, "event_id": "burst"})
    acks = [await alice.expect(lambda m: m.get("event_id") == "burst") for _ in range(5)]
    assert {a["seq"] for a in acks} == {1} and sum(not a["duplicate"] for a in acks) == 1


async def test_gap_free_resubscribe(server: ServerProcess, alice: WsClient, name: str) -> None:
    await create_doc(alice, name)
    watcher = await WsClient.connect(server, mint("alice"))
    await watcher.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    for i in range(1, 4):
        await alice.send_event("doc", name, {"type": "EDIT", "body": f"v{i}"}, f"a{i}")
    last = await watcher.update(name, 3)
    await watcher.close()
    for i in range(4, 8):
        await alice.send_event("doc", name, {"type": "EDIT", "body": f"v{i}"}, f"a{i}")
    watcher = await WsClient.connect(server, mint("alice"))
    await watcher.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name,
                           "since": last["seq"]})
    missed = [await watcher.update(name) for _ in range(4)]
    assert [m["seq"] for m in missed] == [4, 5, 6, 7]
    assert [m["context"]["body"] for m in missed] == ["v4", "v5", "v6", "v7"]
    await alice.send_event("doc", name, {"type": "EDIT", "body": "live"}, "a8")
    assert (await watcher.update(name))["seq"] == 8
    assert await watcher.quiet() == []
    await watcher.close()


async def test_unsubscribe_stops_updates(alice: WsClient, name: str) -> None:
    await create_doc(alice, name)
    await alice.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    await alice.update(name, 0)
    reply = await alice.request({"type": "unsubscribe", "id": "u", "machine": "doc",
                                 "instance": name})
    assert reply["type"] == "unsubscribed"
    await alice.send_event("doc", name, {"type": "EDIT", "body": "z"}, "z")
    assert [m for m in await alice.quiet() if m["type"] == "update"] == []


async def test_concurrent_senders_get_one_linear_history(server: ServerProcess, name: str) -> None:
    clients = [await WsClient.connect(server, mint(f"u{i}")) for i in range(4)]
    await clients[0].request({"type": "create", "id": "c", "machine": "counter", "instance": name})
    await clients[0].request({"type": "subscribe", "id": "s", "machine": "counter",
                              "instance": name})

    async def burst(i: int, client: WsClient) -> list[int]:
        for n in range(25):
            await client.send({"type": "send", "machine": "counter", "instance": name,
                               "event": {"type": "INC"}, "event_id": f"{i}-{n}"})
        acks = [await client.expect(lambda m, n=n: m.get("event_id") == f"{i}-{n}")
                for n in range(25)]
        return [a["seq"] for a in acks]

    per_client = await asyncio.gather(*(burst(i, c) for i, c in enumerate(clients)))
    for seqs in per_client:
        assert seqs == sorted(seqs), "one client's events are applied in the order sent"
    assert sorted(s for seqs in per_client for s in seqs) == list(range(1, 101))
    updates = [await clients[0].update(name, seq) for seq in range(101)]
    assert updates[-1]["context"] == {"count": 100}
    for client in clients:
        await client.close()


async def test_done_instance_accepts_nothing(alice: WsClient, name: str) -> None:
    await alice.request({"type": "create", "id": "c", "machine": "counter", "instance": name})
    await alice.request({"type": "subscribe", "id": "s", "machine": "counter", "instance": name})
    await alice.send_event("counter", name, {"type": "STOP"}, "stop")
    done = await alice.update(name, 1)
    assert done["done"] is True and done["status"] == "done"
    reject = await alice.send_event("counter", name, {"type": "INC"}, "late")
    assert reject["code"] == "event-not-accepted"


async def test_token_refresh_on_the_same_socket(alice: WsClient) -> None:
    reply = await alice.request({"type": "auth", "id": "again", "token": mint("alice", ttl=60)})
    assert reply["type"] == "authed" and reply["sub"] == "alice"


async def test_expired_token_ends_subscriptions(server: ServerProcess, alice: WsClient,
                                                name: str) -> None:
    await create_doc(alice, name)
    short = await WsClient.connect(server)
    authed = await short.request({"type": "auth", "id": "a", "token": mint("alice", ttl=2)})
    await short.request({"type": "subscribe", "id": "s", "machine": "doc", "instance": name})
    await asyncio.sleep(max(0.0, authed["exp"] - time.time()) + 0.3)
    await alice.send_event("doc", name, {"type": "EDIT", "body": "after expiry"}, "exp")
    lost = await short.expect(lambda m: m["type"] == "error")
    assert (lost["code"], lost["instance"]) == ("unauthenticated", name)
    assert [m for m in await short.quiet() if m["type"] == "update" and m["seq"] == 1] == []
    await short.close()


async def test_reauth_keeps_the_subject(alice: WsClient, name: str) -> None:
    """A refreshed token for the same subject is taken; another subject's is refused, and the
    connection keeps acting as the first one (its subscriptions were authorized for it)."""
    await create_doc(alice, name)
    refreshed = await alice.request({"type": "auth", "id": "r1", "token": mint("alice")})
    assert refreshed["type"] == "authed" and refreshed["sub"] == "alice"
    other = await alice.request({"type": "auth", "id": "r2", "token": mint("bob", role="admin")})
    assert other["type"] == "error" and other["code"] == "forbidden", other
    state = await alice.request({"type": "get", "id": "g", "machine": "doc", "instance": name})
    assert state["type"] == "state" and state["context"]["owner"] == "alice"
