"""Connection loss in the middle of a burst of sends: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Awaitable, Callable

from statesync import Client, Instance

from statesync_server.testing import ServerProcess, TcpProxy, get_state

PER_CLIENT = 120


async def _burst(handle: Instance, tag: str, pace: float = 0.004) -> list[asyncio.Future[int]]:
    """Send PER_CLIENT events, a few milliseconds apart."""
    futures = []
    for n in range(PER_CLIENT):
        futures.append(handle.send({"type": "ADD", "item": f"{tag}:{n}"}))
        await asyncio.sleep(pace)
    return futures


def _event_log(server: ServerProcess, name: str, token: str) -> list[dict]:
    entries: list[dict] = []
    while True:
        since = entries[-1]["seq"] if entries else -1
        request = urllib.request.Request(
            f"{server.url}/v1/instances/journal/{name}/events?since={since}&limit=1000",
            headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            page = json.loads(response.read())["entries"]
        if not page:
            return entries
        entries.extend(page)


async def _run_burst_with(disruption: Callable[[], Awaitable[None]], server: ServerProcess,
                          clients: list[Client], name: str) -> None:
    handles = [await c.instance("journal", name, create={}) for c in clients]
    bursts = [asyncio.create_task(_burst(h, f"c{i}")) for i, h in enumerate(handles)]
    await disruption()
    futures = [f for burst in await asyncio.gather(*bursts) for f in burst]
    seqs = await asyncio.wait_for(asyncio.gather(*futures), 30)  # every event acked, none rejected

    total = PER_CLIENT * len(clients)
    assert sorted(seqs) == list(range(1, total + 1))
    await asyncio.gather(*(h.wait_for(lambda s: s.seq == total and s.pending == 0, timeout=20)
                           for h in handles))
    token = server.mint("checker")
    server_state = get_state(server, "journal", name, token=token)
    items = server_state["context"]["items"]
    assert len(items) == len(set(items)) == total  # none lost, none twice
    for i in range(len(clients)):  # each client's events in its own order
        mine = [x for x in items if x.startswith(f"c{i}:")]
        assert mine == [f"c{i}:{n}" for n in range(PER_CLIENT)]
    public = {k: server_state[k] for k in ("value", "tags", "context", "status", "done", "seq")}
    for handle in handles:  # every client shows exactly the server's state
        assert handle.state.to_dict() == {**public, "pending": 0}
    log = _event_log(server, name, token)
    assert [e["seq"] for e in log] == list(range(total + 1))  # gap-free, one entry per event


async def test_server_crash_and_restart_mid_burst(statesync_server_factory, make_client,
                                                  name: str) -> None:
    server: ServerProcess = statesync_server_factory()
    clients = [make_client(server.url, token=server.mint(f"user{i}")) for i in range(3)]
    statuses: list[str] = []
    clients[0].on_status(lambda info: statuses.append(info["status"]))

    async def crash() -> None:
        await asyncio.sleep(0.15)
        await asyncio.to_thread(server.restart, crash=True)  # SIGKILL, same port and database

    await _run_burst_with(crash, server, clients, name)
    assert "reconnecting" in statuses and statuses[-1] == "live"


async def test_network_drop_mid_burst(statesync_server_factory, statesync_proxy, make_client,
                                      name: str) -> None:
    server: ServerProcess = statesync_server_factory()
    proxies: list[TcpProxy] = [statesync_proxy(server) for _ in range(2)]
    clients = [make_client(proxy.url, token=server.mint(f"user{i}"))
               for i, proxy in enumerate(proxies)]
    clients.append(make_client(server.url, token=server.mint("direct")))

    async def flaky_network() -> None:
        for _ in range(3):
            await asyncio.sleep(0.1)
            for proxy in proxies:
                proxy.cut()  # connections reset; reconnects go through at once
        proxies[0].cut(down=True)  # and a longer outage for one client
        await asyncio.sleep(0.3)
        proxies[0].restore()

    await _run_burst_with(flaky_network, server, clients, name)
    assert all(proxy.connections >= 4 for proxy in proxies)
