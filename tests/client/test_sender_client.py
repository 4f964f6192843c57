"""The optimistic client passes the local user as the `sender` of its predicted transitions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SENDERAPP = Path(__file__).parent.parent / "server" / "apps" / "senderapp.py"


def load_senderapp():
    spec = importlib.util.spec_from_file_location("senderapp_for_client", SENDERAPP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_prediction_sees_the_local_user_as_sender(statesync_server_factory,
                                                            make_client) -> None:
    senderapp = load_senderapp()
    server = statesync_server_factory(app=str(SENDERAPP))
    client = make_client(server.url, token=server.mint("alice", role="chef"),
                         machines={"claim": senderapp.claim})
    item = await client.instance("claim", "x", create={})
    assert client.sender.subject == "alice" and client.sender.claims["role"] == "chef"

    sent = item.send({"type": "CLAIM"})
    assert not sent.done()  # not answered yet: this is the local prediction
    assert item.state.pending == 1
    assert item.state.context["owner"] == "alice" and item.state.context["role"] == "chef"
    assert item.accepted_events == ["LATER", "NOTE", "RELEASE"]  # isOwner passes for alice
    await sent
    await item.wait_for(lambda s: s.pending == 0, timeout=10)
    assert item.state.context["owner"] == "alice"


async def test_another_users_guard_refuses_locally_too(statesync_server_factory,
                                                       make_client) -> None:
    senderapp = load_senderapp()
    server = statesync_server_factory(app=str(SENDERAPP))
    alice = await make_client(server.url, token=server.mint("alice"),
                              machines={"claim": senderapp.claim}).instance("claim", "y", create={})
    await alice.send({"type": "CLAIM"})
    bob = await make_client(server.url, token=server.mint("bob"),
                            machines={"claim": senderapp.claim}).instance("claim", "y")
    await bob.wait_for(lambda s: s.value == "taken", timeout=10)
    assert "RELEASE" not in bob.accepted_events
