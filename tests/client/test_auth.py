"""Tokens: providers asked again before expiry and on reconnect; bad tokens."""

from __future__ import annotations

import asyncio
import time

import pytest

from statesync_server.testing import ServerProcess, TcpProxy


async def test_short_lived_token_is_refreshed_on_the_same_connection(
        statesync_server: ServerProcess, statesync_proxy, make_client, name: str) -> None:
    proxy: TcpProxy = statesync_proxy(statesync_server)
    issued: list[float] = []

    async def provider() -> str:  # an async provider, e.g. asking the app's login service
        issued.append(time.time())
        return statesync_server.mint("alice", ttl=3)

    client = make_client(proxy.url, token=provider)
    journal = await client.instance("journal", name, create={})
    for n in range(8):  # 4 s: past the first token's expiry, twice
        await journal.send({"type": "ADD", "item": n})
        await asyncio.sleep(0.5)
    assert journal.state.context["items"] == list(range(8))
    assert len(issued) >= 3  # refreshed before each expiry
    assert proxy.connections == 1  # without reconnecting
    assert client.status == "live"


async def test_provider_is_asked_again_on_reconnect(statesync_server: ServerProcess,
                                                    statesync_proxy, make_client,
                                                    name: str) -> None:
    proxy: TcpProxy = statesync_proxy(statesync_server)
    calls: list[int] = []

    def provider() -> str:  # a plain function works too
        calls.append(1)
        return statesync_server.mint("alice")

    client = make_client(proxy.url, token=provider)
    journal = await client.instance("journal", name, create={})
    proxy.cut()
    assert await asyncio.wait_for(journal.send({"type": "ADD", "item": 1}), 5) == 1
    assert len(calls) == 2 and proxy.connections == 2


async def test_rejected_token_never_goes_live(statesync_server: ServerProcess,
                                              make_client) -> None:
    client = make_client(statesync_server.url, token=statesync_server.mint("alice", ttl=-10))
    with pytest.raises(ConnectionError, match="unauthenticated"):
        await client.connect(timeout=1.0)
    assert client.status != "live"


async def test_a_failing_token_provider_is_retried_not_fatal(statesync_server: ServerProcess,
                                                             make_client, name: str) -> None:
    calls: list[int] = []

    def flaky_provider() -> str:  # the app's login service fails once
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("login service unavailable")
        return statesync_server.mint("alice")

    client = make_client(statesync_server.url, token=flaky_provider)
    journal = await client.instance("journal", name, create={})
    assert await asyncio.wait_for(journal.send({"type": "ADD", "item": 1}), 5) == 1
    assert len(calls) == 2 and isinstance(client.last_error, RuntimeError)
