"""Optimistic updates and rebase reconciliation against a real server."""

from __future__ import annotations

import asyncio

import pytest
from statesync import Rejected, State

from statesync_server.testing import ServerProcess, TcpProxy, get_state


async def test_optimistic_state_is_visible_before_the_ack(statesync_server: ServerProcess,
                                                          statesync_token, make_client,
                                                          name: str) -> None:
    journal = await make_client(statesync_server.url, token=statesync_token("alice")).instance(
        "journal", name, create={})
    seen: list[State] = []
    journal.subscribe(seen.append)

    sent = journal.send({"type": "ADD", "item": "milk"})
    # No await yet: the server cannot have answered, the state already shows the change.
    assert not sent.done()
    assert journal.state.context == {"items": ["milk"]}
    assert journal.state.seq == 0 and journal.state.pending == 1
    assert journal.pending == [{"type": "ADD", "item": "milk"}]
    assert seen[-1].context == {"items": ["milk"]}

    assert await sent == 1
    await journal.wait_for(lambda s: s.pending == 0, timeout=5)
    assert journal.state == State("open", frozenset(), {"items": ["milk"]}, "active", 1, 0)


async def test_rebase_when_another_clients_event_lands_first(
        statesync_server: ServerProcess, statesync_token, statesync_proxy, make_client,
        name: str) -> None:
    proxy: TcpProxy = statesync_proxy(statesync_server)
    alice = await make_client(proxy.url, token=statesync_token("alice")).instance(
        "journal", name, create={})
    bob = await make_client(statesync_server.url, token=statesync_token("bob")).instance(
        "journal", name)
    seen: list[tuple[int, int, list[str]]] = []
    alice.subscribe(lambda state: seen.append((state.seq, state.pending, state.context["items"])))

    proxy.cut(down=True)  # alice's event stays pending while bob's reaches the server first
    sent = alice.send({"type": "ADD", "item": "alice"})
    assert alice.state.context["items"] == ["alice"]
    await bob.send({"type": "ADD", "item": "bob"})
    proxy.restore()

    assert await asyncio.wait_for(sent, 10) == 2
    await alice.wait_for(lambda s: s.pending == 0 and s.seq == 2, timeout=5)
    # alice saw her change at once, then bob's confirmed under her pending one (rebased),
    # then her own confirmed.
    assert seen[0] == (0, 1, ["alice"])
    assert (1, 1, ["bob", "alice"]) in seen
    assert seen[-1] == (2, 0, ["bob", "alice"])
    assert alice.state.context["items"] == ["bob", "alice"]
    await bob.wait_for(lambda s: s.seq == 2, timeout=5)
    assert bob.state.context == alice.state.context


async def test_rejected_event_rolls_back_and_raises_with_its_code(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    mallory = await make_client(statesync_server.url, token=statesync_token("mallory")).instance(
        "owned", f"alice-{name}", create={})
    seen: list[list[str]] = []
    mallory.subscribe(lambda state: seen.append(state.context["items"]))

    sent = mallory.send({"type": "ADD", "item": "graffiti"})
    assert mallory.state.context["items"] == ["graffiti"]
    with pytest.raises(Rejected) as rejected:
        await sent
    assert rejected.value.code == "forbidden"
    assert rejected.value.event == {"type": "ADD", "item": "graffiti"}
    assert seen == [["graffiti"], []]
    assert mallory.state.context["items"] == [] and mallory.pending == []


async def test_event_not_accepted_locally_still_reaches_the_server(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    """The pin is private: the client cannot evaluate the guard; the server's answer wins."""
    vault = await make_client(statesync_server.url, token=statesync_token("alice")).instance(
        "vault", name, create={"pin": "1234"})
    assert vault.state.context == {"opens": 0}

    sent = vault.send({"type": "OPEN", "pin": "1234"})
    assert vault.state.value == "locked" and vault.state.pending == 1  # unknown locally
    assert await sent == 1
    await vault.wait_for(lambda s: s.value == "unlocked" and s.pending == 0, timeout=5)
    assert vault.has_tag("open") and vault.state.context == {"opens": 1}


async def test_wrong_guess_is_rejected_and_later_events_rebase(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    token = statesync_token("alice")
    vault = await make_client(statesync_server.url, token=token).instance(
        "vault", name, create={"pin": "1234"})
    wrong = vault.send({"type": "OPEN", "pin": "0000"})
    right = vault.send({"type": "OPEN", "pin": "1234"})
    with pytest.raises(Rejected) as rejected:
        await wrong
    assert rejected.value.code == "event-not-accepted"
    assert await right == 1
    await vault.wait_for(lambda s: s.pending == 0, timeout=5)
    assert vault.state.value == "unlocked"
    assert get_state(statesync_server, "vault", name, token=token)["seq"] == 1


async def test_burst_of_optimistic_sends_converges(statesync_server: ServerProcess,
                                                   statesync_token, make_client,
                                                   name: str) -> None:
    clients = [make_client(statesync_server.url, token=statesync_token(f"user{i}"))
               for i in range(3)]
    handles = [await c.instance("journal", name, create={}) for c in clients]
    sends = [h.send({"type": "ADD", "item": f"{i}:{n}"})
             for n in range(30) for i, h in enumerate(handles)]
    assert sorted(await asyncio.gather(*sends)) == list(range(1, 91))
    await asyncio.gather(*(h.wait_for(lambda s: s.seq == 90 and s.pending == 0, timeout=5)
                           for h in handles))
    final = handles[0].state.context
    assert all(h.state.context == final for h in handles)
    for i in range(3):  # each client's events in the order it sent them
        mine = [x for x in final["items"] if x.startswith(f"{i}:")]
        assert mine == [f"{i}:{n}" for n in range(30)]


async def test_a_send_resolves_once_the_handle_shows_its_commit(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    """Read your writes: when `await send()` returns, the handle's state is the committed one
    (the server acks before it sends the update: the send waits for that update), so a caller
    that sends again right away does not have the previous update land in the middle."""
    journal = await make_client(statesync_server.url, token=statesync_token("alice")).instance(
        "journal", name, create={})
    told: list[tuple[int, int]] = []
    journal.subscribe(lambda state: told.append((state.seq, state.pending)))
    for n in range(1, 21):
        assert await journal.send({"type": "ADD", "item": str(n)}) == n
        assert (journal.state.seq, journal.state.pending) == (n, 0)
        assert told[-1] == (n, 0)  # subscribers were told before the send resolved
    assert journal.state.context["items"] == [str(n) for n in range(1, 21)]
