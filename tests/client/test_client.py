"""Client basics against a real server: handles, state, subscriptions, status, errors."""

from __future__ import annotations

import asyncio

import pytest
from statesync import Client, ClientError, State
from statesync.client import ClientClosed

from statesync_server.testing import ServerProcess, get_state


async def test_instance_state_and_send(statesync_server: ServerProcess, statesync_token,
                                       make_client, name: str) -> None:
    client = make_client(statesync_server.url, token=statesync_token("alice"))
    journal = await client.instance("journal", name, create={})
    assert client.status == "live" and client.subject == "alice"
    assert journal.state.value == "open" and journal.state.seq == 0
    assert journal.matches("open") and not journal.has_tag("read-only")

    assert await journal.send({"type": "ADD", "item": "a"}) == 1
    assert await journal.send("CLOSE") == 2
    await journal.wait_for(lambda s: s.seq == 2 and s.pending == 0, timeout=5)
    assert journal.state.to_dict() == {
        "value": "closed", "tags": ["read-only"], "context": {"items": ["a"]},
        "status": "active", "done": False, "seq": 2, "pending": 0,
    }
    server_side = get_state(statesync_server, "journal", name, token=statesync_token("alice"))
    assert server_side["context"] == {"items": ["a"]} and server_side["seq"] == 2


async def test_two_clients_see_each_other(statesync_server: ServerProcess, statesync_token,
                                          make_client, name: str) -> None:
    alice = await make_client(statesync_server.url, token=statesync_token("alice")).instance(
        "journal", name, create={})
    bob_client = make_client(statesync_server.url, token=statesync_token("bob"))
    bob = await bob_client.instance("journal", name)
    seen: list[State] = []
    bob.subscribe(seen.append)

    await alice.send({"type": "ADD", "item": "from alice"})
    state = await bob.wait_for(lambda s: s.context["items"] == ["from alice"], timeout=5)
    assert state.seq == 1 and seen[-1] == state and state.pending == 0

    async def iterate() -> list[str]:
        async for state in bob:  # updates from now on
            if state.seq == 2:
                return state.context["items"]
        return []

    iteration = asyncio.create_task(iterate())
    await asyncio.sleep(0)  # the iteration has started
    await alice.send({"type": "ADD", "item": "again"})
    assert await asyncio.wait_for(iteration, 5) == ["from alice", "again"]
    assert await bob_client.instance("journal", name) is bob  # handles are shared


async def test_without_machine_definitions_state_waits_for_the_server(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    client = make_client(statesync_server.url, token=statesync_token("alice"), machines={})
    journal = await client.instance("journal", name, create={})
    sent = journal.send({"type": "ADD", "item": "x"})
    assert journal.state.context == {"items": []} and journal.state.pending == 1
    assert client.unsaved == 1
    await sent
    await journal.wait_for(lambda s: s.context == {"items": ["x"]}, timeout=5)
    assert client.unsaved == 0


async def test_missing_instance_and_closed_handle(statesync_server: ServerProcess, statesync_token,
                                                  make_client, name: str) -> None:
    client = make_client(statesync_server.url, token=statesync_token("alice"))
    with pytest.raises(ClientError) as missing:
        await client.instance("journal", name)
    assert missing.value.code == "not-found"
    with pytest.raises(ClientError) as unknown:
        await client.instance("no-such-machine", name, create={})
    assert unknown.value.code == "not-found"

    journal = await client.instance("journal", name, create={})
    await journal.close()
    with pytest.raises(ClientClosed):
        journal.send("CLOSE")
    reopened = await client.instance("journal", name)
    assert reopened is not journal and reopened.state.value == "open"


async def test_status_reports(statesync_server: ServerProcess, statesync_token, make_client,
                              name: str) -> None:
    client = make_client(statesync_server.url, token=statesync_token("alice"), machines={})
    reports: list[tuple[str, int]] = []
    client.on_status(lambda info: reports.append((info["status"], info["unsaved"])))
    journal = await client.instance("journal", name, create={})
    await journal.send({"type": "ADD", "item": "x"})
    await journal.wait_for(lambda s: s.pending == 0, timeout=5)
    await client.close()
    assert reports == [("connecting", 0), ("live", 0), ("live", 1), ("live", 0), ("offline", 0)]


async def test_unreachable_server_times_out_and_keeps_trying(make_client) -> None:
    client: Client = make_client("http://127.0.0.1:9", token="x")
    with pytest.raises(ConnectionError):
        await client.connect(timeout=0.5)
    assert client.status in ("connecting", "reconnecting", "offline")
