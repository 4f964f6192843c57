"""Cluster mode across database faults: two real processes on a PostgreSQL server of the
test's own, stopped or restarted under load (`pg_ctl -m fast|immediate`).

While the database is away, operations are answered `unavailable` (retryable, nothing
applied), logged once per outage; once it is back, the first write on every process succeeds
(a dead writer connection is replaced before a write fails on it), every acknowledged event is
in the log exactly once, and every subscriber on every process has seen every seq in order,
and every event a transition emitted, once (also those committed by the other process while
this one was cut off from the database and its notifications: they come from the log).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websockets

import small_disk as disk
from server_harness import ServerProcess, WsClient, mint
from statesync_server.testing.postgres import PostgresServer, query

APP = str(Path(__file__).parent / "apps" / "clusterapp.py")
LEASE = "1.5"
_ids = itertools.count()
NAMES = [f"x{i}" for i in range(4)]


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server this test alone uses: it may stop and restart it. Durable: with
    the test server's `synchronous_commit=off`, an immediate stop (a crash) loses commits
    PostgreSQL had already confirmed."""
    server = PostgresServer(durable=True).start()
    yield server
    server.stop()


@pytest.fixture
def pair(own_postgres) -> Iterator[list[ServerProcess]]:
    url = own_postgres.create_database("faults")
    servers = [ServerProcess(url, "--cluster-lease", LEASE, app=APP).start()
               for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


@dataclass
class Load:
    """Clients writing ADD 1 and PING (which emits `pong`) to every instance through every
    process, each event resent with its id while it is answered `unavailable`; what each send
    got first after `mark`."""

    servers: list[ServerProcess]
    acked: dict[str, int] = field(default_factory=dict)
    unavailable: int = 0
    after_mark: list[str] = field(default_factory=list)
    """Each send made after `mark`: its first answer ('ack' or the reject's code)."""
    marked: bool = False
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def drive(self, index: int) -> None:
        client = await WsClient.connect(self.servers[index % 2], mint("tester"))
        for n in itertools.count():
            if self.stop.is_set():
                break
            event_id, name, first = f"w{index}-{n}", NAMES[n % len(NAMES)], None
            event = {"type": "PING" if n % 3 == 1 else "ADD", "n": 1}
            marked = self.marked
            while True:
                reply = await client.send_event("counter", name, event, event_id)
                answer = "ack" if reply["type"] == "ack" else reply["code"]
                if first is None:
                    first = answer
                    if marked:
                        self.after_mark.append(answer)
                if answer == "ack":
                    self.acked[event_id] = reply["seq"]
                    break
                assert answer == "unavailable", reply  # retryable; anything else is a bug
                self.unavailable += 1
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)
        await client.close()


@dataclass
class Watcher:
    """A subscriber to every instance on one process: the seqs of the updates and of the
    emitted events it got; a subscription ended with `unavailable` is made again with `since`
    its last seq."""

    server: ServerProcess
    seqs: dict[str, list[int]] = field(default_factory=dict)
    emitted: dict[str, list[int]] = field(default_factory=dict)
    replayed: dict[str, list[range]] = field(default_factory=dict)
    """Seqs a subscription made again replayed: updates only (emitted events are for the
    subscribers of the moment, docs/protocol.md)."""
    ended: list[dict] = field(default_factory=list)

    async def run(self, ready: asyncio.Event) -> None:
        ws = await websockets.connect(self.server.ws_url)
        await ws.send(json.dumps({"type": "auth", "token": mint("tester"), "id": "auth"}))
        for name in NAMES:
            await ws.send(json.dumps({"type": "subscribe", "id": f"s{next(_ids)}",
                                      "machine": "counter", "instance": name}))
        subscribed, again = 0, {}
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "subscribed":
                    subscribed += 1
                    if subscribed == len(NAMES):
                        ready.set()
                    if message["id"] in again:
                        name, since = again.pop(message["id"])
                        self.replayed.setdefault(name, []).append(
                            range(since + 1, message["seq"] + 1))
                elif message["type"] == "update":
                    self.seqs.setdefault(message["instance"], []).append(message["seq"])
                elif message["type"] == "emitted":
                    assert message["event"] == {"type": "pong", "n": 1}, message  # as public
                    self.emitted.setdefault(message["instance"], []).append(message["seq"])
                elif message["type"] == "error" and message.get("instance"):
                    self.ended.append(message)
                    assert message["code"] == "unavailable", message
                    name, request = message["instance"], f"s{next(_ids)}"
                    again[request] = name, self.seqs[name][-1]
                    await ws.send(json.dumps({"type": "subscribe", "id": request,
                                              "machine": "counter", "instance": name,
                                              "since": self.seqs[name][-1]}))
        finally:
            await ws.close()


async def _around(servers: list[ServerProcess], fault) -> tuple[Load, list[Watcher]]:
    """Create the instances, subscribe on both processes, write through both, run `fault`
    (an async callable) under that load, write on, then stop writing."""
    setup = await WsClient.connect(servers[0], mint("tester"))
    for name in NAMES:
        reply = await setup.request({"type": "create", "id": f"c{next(_ids)}",
                                     "machine": "counter", "instance": name})
        assert reply["type"] == "created", reply
    watchers = [Watcher(server) for server in servers]
    readies = [asyncio.Event() for _ in watchers]
    watching = [asyncio.create_task(w.run(r)) for w, r in zip(watchers, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    load = Load(servers)
    drivers = [asyncio.create_task(load.drive(i)) for i in range(4)]
    while len(load.acked) < 40:  # the load is on
        await asyncio.sleep(0.05)
    await fault(load)
    load.marked = True
    before = len(load.acked)
    for _ in range(600):  # the load carries on: 40 more acks (bounded wait)
        if len(load.acked) >= before + 40:
            break
        await asyncio.sleep(0.05)
    load.stop.set()
    await asyncio.wait_for(asyncio.gather(*drivers), 60)

    finals = {name: query(servers[0].database_url,
                          "SELECT seq FROM instances WHERE machine = 'counter' AND name = ?",
                          name)[0][0] for name in NAMES}
    last_ping = {name: query(servers[0].database_url, "SELECT max(seq) FROM events WHERE "
                             "machine = 'counter' AND instance = ? AND event LIKE '%PING%'",
                             name)[0][0] for name in NAMES}
    for _ in range(600):  # every watcher reaches every final seq and pong (bounded wait)
        if all(w.seqs.get(n, [-1])[-1] >= finals[n]
               and w.emitted.get(n, [-1])[-1] >= last_ping[n] for w in watchers for n in NAMES):
            break
        await asyncio.sleep(0.05)
    for task in watching:
        task.cancel()
    await asyncio.gather(*watching, return_exceptions=True)
    pings: dict[str, list[int]] = {}
    for name in NAMES:
        rows = query(servers[0].database_url, "SELECT seq, event_id, event FROM events WHERE "
                     "machine = 'counter' AND instance = ? ORDER BY seq", name)
        pings[name] = [row[0] for row in rows if json.loads(row[2])["type"] == "PING"]
        assert [row[0] for row in rows] == list(range(finals[name] + 1))  # gap-free
        ids = [row[1] for row in rows[1:]]
        assert len(ids) == len(set(ids))  # nothing applied twice
        for event_id in ids:
            assert event_id in load.acked, event_id  # nothing applied that was not acked
    applied = {row[0] for row in query(servers[0].database_url,
                                       "SELECT event_id FROM events WHERE seq > 0")}
    assert set(load.acked) <= applied  # nothing acknowledged lost
    for watcher in watchers:  # every seq, in order, on every process
        for name in NAMES:
            seqs = watcher.seqs[name]
            assert seqs == list(range(seqs[0], finals[name] + 1)), (watchers.index(watcher), name, seqs, watcher.ended)
            emitted = [seq for seq in pings[name] if seq > seqs[0] and not any(
                seq in gap for gap in watcher.replayed.get(name, ()))]
            assert watcher.emitted.get(name, []) == emitted, (  # each once, in order
                watchers.index(watcher), name, sorted(set(emitted) - set(watcher.emitted.get(name, []))))
    for server in servers:
        assert '"internal"' not in server.log() and "internal error" not in server.log()
        assert not _foreign_warnings(server), _foreign_warnings(server)
    return load, watchers


def _foreign_warnings(server: ServerProcess) -> list[str]:
    """Warnings and errors a server logged through another logger than statesync's (a
    driver's, without the instance and process they concern)."""
    return [line for line in server.log().splitlines()
            if re.search(r" (WARNING|ERROR|CRITICAL) (?!statesync)", line)]


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_first_write_after_a_database_restart_succeeds_on_every_process(
        pair, own_postgres, mode):
    async def restart(load: Load) -> None:
        await asyncio.to_thread(own_postgres.restart, mode)

    load, _ = await _around(pair, restart)
    assert load.after_mark and set(load.after_mark) == {"ack"}, load.after_mark
    for server in pair:  # a client arriving now: its first write is applied
        client = await WsClient.connect(server, mint("tester"))
        reply = await client.send_event("counter", NAMES[0], {"type": "ADD", "n": 0},
                                        f"probe-{server.port}")
        assert reply["type"] == "ack", reply


async def test_no_subscriber_misses_a_seq_across_a_database_outage(pair, own_postgres):
    """The database stops (immediate) while both processes write; a read on the second
    process during the outage is answered `unavailable`; the database comes back."""

    async def outage(load: Load) -> None:
        await asyncio.to_thread(own_postgres.halt, "immediate")
        reader = await WsClient.connect(pair[1], mint("tester"))
        for name in NAMES:
            reply = await reader.request({"type": "get", "id": f"g{next(_ids)}",
                                          "machine": "counter", "instance": name})
            assert reply["type"] == "error" and reply["code"] == "unavailable", reply
        await asyncio.sleep(1.5)  # an outage that lasts
        await asyncio.to_thread(own_postgres.resume)

    load, _ = await _around(pair, outage)
    assert load.unavailable > 0  # the outage was seen, and answered as retryable
    for server in pair:  # once per outage, not per failed operation
        lines = [line for line in server.log().splitlines() if "database unavailable" in line]
        assert 1 <= len(lines) <= 2, lines
        assert "Traceback" not in server.log()


async def test_a_full_disk_under_postgresql_answers_unavailable_logged_once_and_recovers(
        own_postgres):
    """The database's tables live on a small filesystem of their own (a tablespace on a
    tmpfs; the write-ahead log stays on the cluster's disk), filled while two processes
    write: every write is answered `unavailable` (PostgreSQL's `53100 disk full`, retryable,
    nothing applied), never `internal`, logged once per process for the episode with no
    traceback; once space is freed, the same event ids are applied, each once."""
    # (in PostgreSQL's own directory: its user may not enter the test's temporary one)
    with disk.small_disk(own_postgres.dir / "small", "24m") as mount:
        (mount / "pg").mkdir()
        own_postgres.create_tablespace("small", mount / "pg")
        url = own_postgres.create_database("full", tablespace="small")
        servers = [ServerProcess(url, "--cluster-lease", LEASE, app=APP).start()
                   for _ in range(2)]
        try:
            clients = [await WsClient.connect(server, mint("tester")) for server in servers]
            for name in NAMES:
                reply = await clients[0].request({"type": "create", "id": f"c{next(_ids)}",
                                                  "machine": "counter", "instance": name})
                assert reply["type"] == "created", reply
            filler = disk.fill(mount)
            codes: list[str] = []
            for n in range(3000):  # bounded: the tables soon need a page the disk has not got
                reply = await clients[n % 2].send_event(
                    "counter", NAMES[n % len(NAMES)], {"type": "ADD", "n": 1}, f"f{n}")
                codes.append("ack" if reply["type"] == "ack" else reply["code"])
                if codes[-20:] == ["unavailable"] * 20:
                    break
            assert codes[-20:] == ["unavailable"] * 20, codes[-40:]
            assert set(codes) <= {"ack", "unavailable"}, set(codes)
            refused = [f"f{n}" for n, code in enumerate(codes) if code == "unavailable"]

            filler.unlink()  # space again: each refused event, sent again, is applied once
            for n, event_id in enumerate(refused):
                reply = await clients[n % 2].send_event(
                    "counter", NAMES[int(event_id[1:]) % len(NAMES)], {"type": "ADD", "n": 1},
                    event_id)
                assert reply["type"] == "ack", reply
            applied = [row[0] for row in query(url, "SELECT event_id FROM events WHERE seq > 0")]
            assert sorted(applied) == sorted(f"f{n}" for n in range(len(codes)))
            for client in clients:
                await client.close()
            for server in servers:
                log = server.log()
                lines = [line for line in log.splitlines() if "database unavailable" in line]
                assert len(lines) == 1, lines
                assert "No space left on device" in lines[0] or "53100" in lines[0], lines
                assert "Traceback" not in log and "internal" not in log, log[-3000:]
                assert not _foreign_warnings(server), _foreign_warnings(server)
        finally:
            for server in servers:
                server.stop()
