"""Live queries include the client's pending changes: an instance enters, leaves or moves
between live queries as soon as the event is sent, and goes back if the server refuses it;
once confirmed, the server's own change is no flicker."""

from __future__ import annotations

import pytest
from statesync import Rejected

from statesync_server.testing import ServerProcess


async def test_a_move_shows_in_live_queries_at_once_and_rolls_back(
        statesync_server: ServerProcess, statesync_token, make_client, name: str) -> None:
    client = make_client(statesync_server.url, token=statesync_token("alice"))
    card = await client.instance("card", name, create={"column": "todo"})
    todo = await client.watch("card", "column", "eq", "todo")
    doing = await client.watch("card", "column", "eq", "doing")
    assert name in todo and name not in doing
    heard: list[str] = []
    doing.subscribe(lambda change: heard.append(change.kind) if change.instance == name else None)

    moved = card.send({"type": "MOVE", "column": "doing"})
    assert name in doing and name not in todo  # at once: before the server answered
    assert doing.get(name).key == "doing" and doing.get(name).state.pending == 1
    seq = await moved
    await doing.wait_for(lambda q: name in q and q.get(name).state.seq == seq, timeout=5)
    await todo.wait_for(lambda q: name not in q, timeout=5)
    assert doing.get(name).state.pending == 0
    assert heard[0] == "enter" and "leave" not in heard  # confirmed: never left meanwhile

    refused = card.send({"type": "MOVE", "column": "nowhere"})  # the server's model refuses it
    assert name not in doing and name not in todo  # left optimistically
    with pytest.raises(Rejected):
        await refused
    assert name in doing and doing.get(name).state.pending == 0  # back with the rollback
    assert heard[-2:] == ["leave", "enter"]
