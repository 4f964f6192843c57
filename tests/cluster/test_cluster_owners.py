"""Shared writes go to the instance's owner (docs/deployment.md, engine/peers.py): an
instance written through every process is committed by one of them, so no commit loses a
race; when the owner is killed, its instances move to the survivors with nothing acknowledged
lost or applied twice, in one gap-free order."""

from __future__ import annotations

import asyncio
import itertools
import re
import time

import httpx
import websockets

from server_harness import WsClient, mint
from statesync_server.auth import ADMIN_CLAIM
from statesync_server.engine.peers import PATH, owner_of
from statesync_server.testing import get_state
from statesync_server.testing.postgres import query

_ids = itertools.count()


def _token() -> str:
    return mint("tester")


def _metric(server, name: str) -> float:
    headers = {"Authorization": f"Bearer {mint('ops', **{ADMIN_CLAIM: True})}"}
    text = httpx.get(f"{server.url}/metrics", headers=headers, timeout=10).text
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"no {name} in /metrics"
    return float(found.group(1))


async def _members_seen(servers, count: int) -> None:
    """Wait (bounded) until every process counts `count` live processes."""
    deadline = time.monotonic() + 120
    while any(_metric(s, "statesync_cluster_members") != count for s in servers):
        assert time.monotonic() < deadline, [_metric(s, "statesync_cluster_members") for s in servers]
        await asyncio.sleep(0.1)


def _owned_by(server, servers, count: int) -> list[str]:
    """`count` counter names whose owner is `server` (as every process computes it)."""
    nodes = [row[0] for row in query(servers[0].database_url, "SELECT id FROM nodes")]
    mine = next(n for n in nodes if n.endswith(f":{server.url.rsplit(':', 1)[1]}"))
    names = (f"owned{i}" for i in itertools.count())
    return list(itertools.islice(
        (name for name in names if owner_of(nodes, "counter", name) == mine), count))


async def _send_all(client: WsClient, names: list[str], per: int, tag: str) -> dict[str, int]:
    for n in range(per):
        for name in names:
            await client.send({"type": "send", "machine": "counter", "instance": name,
                               "event": {"type": "ADD", "n": 1}, "event_id": f"{tag}-{name}-{n}"})
    acks = {}
    for _ in range(per * len(names)):
        reply = await client.expect(lambda m: m["type"] in ("ack", "reject"), timeout=60)
        assert reply["type"] == "ack", reply
        acks[reply["event_id"]] = reply["seq"]
    return acks


async def test_shared_writes_are_committed_by_the_owner_without_conflicts(cluster):
    servers = cluster(3)
    await _members_seen(servers, 3)
    setup = await WsClient.connect(servers[0], _token())
    names = [f"shared{i}" for i in range(6)]
    for name in names:
        reply = await setup.request({"type": "create", "id": f"c{next(_ids)}", "machine": "counter",
                                     "instance": name})
        assert reply["type"] == "created", reply
    clients = [await WsClient.connect(server, _token()) for server in servers]
    per = 30
    acks = await asyncio.gather(*(_send_all(c, names, per, f"p{i}") for i, c in enumerate(clients)))
    for name in names:  # every event applied once, in one gap-free order
        seqs = sorted(seq for a in acks for eid, seq in a.items() if f"-{name}-" in eid)
        assert seqs == list(range(1, 3 * per + 1)), name
        state = get_state(servers[1], "counter", name, token=_token())
        assert state["context"]["count"] == 3 * per
    forwarded = sum(_metric(s, "statesync_writes_forwarded_total") for s in servers)
    conflicts = sum(_metric(s, "statesync_write_conflicts_total") for s in servers)
    fallbacks = sum(_metric(s, "statesync_forward_fallbacks_total") for s in servers)
    assert conflicts == 0 and fallbacks == 0, (conflicts, fallbacks)
    assert forwarded > 0  # about two thirds of the sends reached a process not their owner's


async def test_the_peer_endpoint_refuses_a_handshake_without_the_cluster_key(cluster):
    server = cluster(1)[0]
    url = server.url.replace("http", "ws", 1) + PATH
    for headers in ({}, {"x-statesync-peer": "intruder|0|00"},
                    {"x-statesync-peer": f"p|{int(time.time())}|{'0' * 64}"},
                    {"Authorization": f"Bearer {mint('alice')}"}):
        try:
            async with websockets.connect(url, additional_headers=headers) as ws:
                await ws.send('{"n": 0, "claims": [{"sub": "admin"}], "ops": []}')
                await ws.recv()
        except (websockets.InvalidStatus, websockets.ConnectionClosed):
            continue
        raise AssertionError(f"accepted {headers}")


async def test_the_owners_instances_move_on_kill_9_with_nothing_lost_or_doubled(cluster):
    servers = cluster(3)
    await _members_seen(servers, 3)
    doomed, survivors = servers[0], servers[1:]
    names = _owned_by(doomed, servers, 3)
    setup = await WsClient.connect(survivors[0], _token())
    for name in names:
        await setup.request({"type": "create", "id": f"c{next(_ids)}", "machine": "counter",
                             "instance": name})
    acked: dict[str, int] = {}
    killed = asyncio.Event()
    after_kill = 0

    async def drive(index: int) -> None:
        """One client of a survivor: its sends are forwarded to the doomed owner until it
        dies, then go to the new owner; each is sent until acknowledged (same event id)."""
        nonlocal after_kill
        client = await WsClient.connect(survivors[index % 2], _token())
        for n in range(400):
            if killed.is_set() and after_kill >= 60:
                break
            event_id = f"d{index}-{n}"
            reply = await client.send_event("counter", names[n % len(names)],
                                            {"type": "ADD", "n": 1}, event_id)
            assert reply["type"] == "ack", reply
            acked[event_id] = reply["seq"]
            after_kill += killed.is_set()

    drivers = [asyncio.create_task(drive(i)) for i in range(4)]
    deadline = time.monotonic() + 180
    while len(acked) < 40:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert sum(_metric(s, "statesync_writes_forwarded_total") for s in survivors) > 0
    doomed.kill()
    killed.set()
    await asyncio.gather(*drivers)
    assert after_kill >= 60  # the survivors took the instances over
    total = 0
    for name in names:
        state = get_state(survivors[0], "counter", name, token=_token())
        seqs = sorted(seq for eid, seq in acked.items()
                      if names[int(eid.split("-")[1]) % len(names)] == name)
        assert seqs == list(range(1, state["seq"] + 1))  # gap-free, each seq acked once
        total += state["context"]["count"]
    assert total == len(acked)  # every acknowledged event applied exactly once
    for server in survivors:
        assert "Traceback" not in server.log()
