"""Sends under the caller's event id (a browser page's outbox, kept across reloads): the server
applies each id once, and a handle given an id it still holds pending keeps one event."""

from __future__ import annotations

from statesync_server.testing import ServerProcess, get_state


async def test_an_id_resent_by_another_client_is_applied_once(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    token = statesync_token("alice")
    first = await make_client(statesync_server.url, token=token).instance("journal", name, create={})
    assert await first.send_with_id("id-0001", {"type": "ADD", "item": "a"}) == 1

    # A reloaded page: another client, the same saved id.
    again = await make_client(statesync_server.url, token=token).instance("journal", name)
    assert await again.send_with_id("id-0001", {"type": "ADD", "item": "a"}) == 1
    assert await again.send_with_id("id-0002", {"type": "ADD", "item": "b"}) == 2
    assert get_state(statesync_server, "journal", name, token=token)["context"] == {
        "items": ["a", "b"]}


async def test_an_id_still_pending_is_one_event(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    token = statesync_token("alice")
    journal = await make_client(statesync_server.url, token=token).instance(
        "journal", name, create={})
    sent = journal.send_with_id("id-0003", {"type": "ADD", "item": "a"})
    assert journal.send_with_id("id-0003", {"type": "ADD", "item": "a"}) is sent
    assert journal.state.context == {"items": ["a"]} and journal.state.pending == 1
    assert await sent == 1
    state = await journal.wait_for(lambda s: s.pending == 0, timeout=5)
    assert state.context == {"items": ["a"]}
