"""Every error code, provoked by real bad input; nothing changes and nobody else notices."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from server_harness import SECRET, ServerProcess, WsClient, mint


def unsigned_token(sub: str) -> str:
    """A token with `alg: none` (no signature at all)."""
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    claims = {"sub": sub, "exp": 2_000_000_000, "aud": "statesync", "iss": "statesync"}
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_TOKENS = {
    "expired": mint("alice", ttl=-10),
    "wrong-signature": mint("alice", secret="another-secret-of-sufficient-length-000"),
    "alg-none": unsigned_token("alice"),
    "wrong-audience": jwt.encode({"sub": "alice", "exp": 2_000_000_000, "aud": "other",
                                  "iss": "statesync"}, SECRET, algorithm="HS256"),
    "no-subject": jwt.encode({"exp": 2_000_000_000, "aud": "statesync", "iss": "statesync"},
                             SECRET, algorithm="HS256"),
    "garbage": "not.a.token",
}


@pytest.mark.parametrize("kind", sorted(BAD_TOKENS))
async def test_bad_tokens_are_unauthenticated(server: ServerProcess, kind: str) -> None:
    client = await WsClient.connect(server)
    reply = await client.request({"type": "auth", "id": 1, "token": BAD_TOKENS[kind]})
    assert (reply["type"], reply["code"]) == ("error", "unauthenticated")
    still = await client.request({"type": "get", "id": 2, "machine": "counter", "instance": "x"})
    assert still["code"] == "unauthenticated"
    await client.close()


async def test_requests_before_auth_are_unauthenticated(server: ServerProcess, name: str) -> None:
    client = await WsClient.connect(server)
    reply = await client.request({"type": "create", "id": 1, "machine": "counter",
                                  "instance": name})
    assert reply["code"] == "unauthenticated"
    reject = await client.send_event("counter", name, {"type": "INC"}, "e")
    assert (reject["type"], reject["code"]) == ("reject", "unauthenticated")
    await client.close()


async def test_not_found_and_already_exists(alice: WsClient, name: str) -> None:
    unknown = await alice.request({"type": "create", "id": 1, "machine": "nope", "instance": name})
    assert unknown["code"] == "not-found"
    missing = await alice.request({"type": "get", "id": 2, "machine": "counter", "instance": name})
    assert missing["code"] == "not-found"
    missing = await alice.request({"type": "subscribe", "id": 3, "machine": "counter",
                                   "instance": name})
    assert missing["code"] == "not-found"
    reject = await alice.send_event("counter", name, {"type": "INC"}, "e1")
    assert reject["code"] == "not-found"
    assert (await alice.request({"type": "create", "id": 4, "machine": "counter",
                                 "instance": name}))["type"] == "created"
    twice = await alice.request({"type": "create", "id": 5, "machine": "counter", "instance": name})
    assert twice["code"] == "already-exists"


BAD_EVENTS = {
    "wrong payload type": ({"type": "EDIT", "body": 42}, "invalid-event"),
    "payload too long": ({"type": "EDIT", "body": "x" * 1001}, "invalid-event"),
    "missing field": ({"type": "ADD_READER"}, "invalid-event"),
    "unknown event": ({"type": "SHRED"}, "invalid-event"),
    "reserved event": ({"type": "xstate.after.1000.doc.draft"}, "invalid-event"),
    "guard false": ({"type": "PUBLISH"}, "event-not-accepted"),
    "not in this state": ({"type": "UNPUBLISH"}, "event-not-accepted"),
    "no type": ({"body": "x"}, "invalid-message"),
}


async def test_bad_events_are_rejected_and_write_nothing(server: ServerProcess, alice: WsClient,
                                                         name: str) -> None:
    await alice.request({"type": "create", "id": 1, "machine": "doc", "instance": name,
                         "input": {"owner": "alice"}})
    for i, (label, (event, code)) in enumerate(BAD_EVENTS.items()):
        reject = await alice.send_event("doc", name, event, f"bad-{i}")
        assert (reject["type"], reject["code"]) == ("reject", code), label
    state = await alice.request({"type": "get", "id": 2, "machine": "doc", "instance": name})
    assert (state["seq"], state["value"], state["context"]["body"]) == (0, "draft", "")


async def test_application_errors_are_internal_and_write_nothing(alice: WsClient,
                                                                 name: str) -> None:
    await alice.request({"type": "create", "id": 1, "machine": "counter", "instance": name})
    reject = await alice.send_event("counter", name, {"type": "BOOM"}, "boom")
    assert reject["code"] == "internal"
    ack = await alice.send_event("counter", name, {"type": "INC"}, "inc")
    assert ack["seq"] == 1


MALFORMED = {
    "not json": "{nope",
    "not an object": "[1, 2]",
    "unknown type": json.dumps({"type": "teleport", "id": 1}),
    "missing fields": json.dumps({"type": "create", "id": 1}),
    "bad instance name": json.dumps({"type": "get", "id": 1, "machine": "counter",
                                     "instance": "a/b"}),
    "send without event_id": json.dumps({"type": "send", "machine": "counter", "instance": "x",
                                         "event": {"type": "INC"}}),
}


@pytest.mark.parametrize("label", sorted(MALFORMED))
async def test_malformed_messages_are_invalid_message(alice: WsClient, label: str) -> None:
    await alice.send(MALFORMED[label])
    reply = await alice.expect(lambda m: m["type"] == "error")
    assert reply["code"] == "invalid-message", reply
    assert (await alice.request({"type": "ping", "id": "alive"}))["type"] == "pong"


async def test_malformed_send_is_rejected_with_its_event_id(alice: WsClient) -> None:
    await alice.send({"type": "send", "machine": "counter", "instance": "x", "event_id": "e9",
                      "event": "INC"})
    reject = await alice.expect(lambda m: m.get("event_id") == "e9")
    assert (reject["type"], reject["code"]) == ("reject", "invalid-message")


async def test_binary_frames_are_invalid_messages(alice: WsClient) -> None:
    await alice.ws.send(b"\x00\x01")
    assert (await alice.expect(lambda m: m["type"] == "error"))["code"] == "invalid-message"


async def test_oversized_message_is_too_large(alice: WsClient, name: str) -> None:
    await alice.request({"type": "create", "id": 1, "machine": "counter", "instance": name})
    await alice.send({"type": "send", "machine": "counter", "instance": name,
                      "event": {"type": "INC", "pad": "x" * 70_000}, "event_id": "big"})
    assert (await alice.expect(lambda m: m["type"] == "error"))["code"] == "too-large"
    state = await alice.request({"type": "get", "id": 2, "machine": "counter", "instance": name})
    assert state["seq"] == 0


async def test_rate_limited(start_server) -> None:
    server = start_server("--rate-limit", "5")
    client = await WsClient.connect(server, mint("alice"))
    for i in range(30):
        await client.send({"type": "ping", "id": i})
    replies = [await client.expect(lambda m, i=i: m.get("id") == i) for i in range(30)]
    codes = {r.get("code") for r in replies if r["type"] == "error"}
    assert codes == {"rate-limited"}
    assert sum(r["type"] == "pong" for r in replies) >= 5
    await client.close()


async def test_a_misbehaving_client_does_not_disturb_others(server: ServerProcess, name: str) -> None:
    good = await WsClient.connect(server, mint("alice"))
    bad = await WsClient.connect(server, mint("mallory"))
    await good.request({"type": "create", "id": 1, "machine": "counter", "instance": name})
    await good.request({"type": "subscribe", "id": 2, "machine": "counter", "instance": name})
    await good.update(name, 0)
    for text in [*MALFORMED.values(), "x" * 100_000]:
        await bad.send(text)
    await bad.ws.send(b"\xff")
    await bad.send_event("counter", name, {"type": "BOOM"}, "boom")
    await bad.close()
    ack = await good.send_event("counter", name, {"type": "INC"}, "inc")
    assert ack["seq"] == 1
    assert (await good.update(name, 1))["context"] == {"count": 1}
    await good.close()
