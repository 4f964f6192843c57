"""The sender of an event reaches actions, guards and `public_event` on a real server, and
the event log's replay gives the same result although it does not keep the sender's claims."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server_harness import ServerProcess, WsClient, mint

from statesync_server.testing import async_wait_for_state

SENDERAPP = str(Path(__file__).parent / "apps" / "senderapp.py")


def get(server: ServerProcess, path: str, token: str) -> Any:
    request = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


async def test_the_sender_reaches_actions_guards_and_public_event(
        start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(app=SENDERAPP)
    alice_token, bob_token = mint("alice", role="chef"), mint("bob")
    alice, bob = await WsClient.connect(server, alice_token), await WsClient.connect(server, bob_token)
    created = await alice.request({"type": "create", "id": 1, "machine": "claim", "instance": "x"})
    assert created["context"]["creator"] == "alice"
    assert (await alice.send_event("claim", "x", {"type": "CLAIM"}, "e1"))["type"] == "ack"
    state = await async_wait_for_state(server, "claim", "x", token=alice_token, value="taken")
    assert state["context"]["owner"] == "alice" and state["context"]["role"] == "chef"

    refused = await bob.send_event("claim", "x", {"type": "RELEASE"}, "e2")
    assert refused["type"] == "reject" and refused["code"] == "event-not-accepted"
    assert refused["message"] == ("'RELEASE' is handled in state taken, but the guards of its "
                                  "transitions refused it")
    unknown = await bob.send_event("claim", "x", {"type": "CLAIM"}, "e2b")
    assert unknown["message"] == "'CLAIM' is not accepted in state taken (no transition for it there)"

    await bob.request({"type": "create", "id": 2, "machine": "relay", "instance": "r"})
    assert (await bob.send_event("relay", "r", {"type": "POKE", "target": "x"}, "e3"))["type"] == "ack"
    assert (await alice.send_event("claim", "x", {"type": "LATER"}, "e4"))["type"] == "ack"
    state = await async_wait_for_state(
        server, "claim", "x", token=alice_token, value="taken", timeout=30,
        where=lambda s: len(s["context"]["notes"]) == 2)
    notes = sorted(state["context"]["notes"], key=lambda n: n["origin"])
    assert notes == [{"origin": "instance", "subject": None, "instance": ["relay", "r"]},
                     {"origin": "timer", "subject": None, "instance": None}]

    log = get(server, "/v1/instances/claim/x/events", bob_token)["entries"]
    assert log[1]["event"] == {"type": "CLAIM", "by": "alice", "origin": "client"}
    assert {e["event"]["origin"] for e in log[2:]} == {"instance", "client", "timer"}
    # the claim's `role` came from a claim the log does not keep: the state at seq 1 is the
    # checkpoint written with it, not a replay without it
    past = get(server, "/v1/instances/claim/x/at/1", bob_token)
    assert past["context"]["role"] == "chef" and past["context"]["owner"] == "alice"
    await alice.close()
    await bob.close()
