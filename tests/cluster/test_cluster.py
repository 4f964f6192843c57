"""Cluster mode: three real `statesync serve` processes on one real PostgreSQL database.

Every guarantee of one process holds across processes: concurrent events to the same
instances through different processes apply exactly once each, in one gap-free order, with no
`internal` errors; subscribers on every process see every update in seq order; a read never
shows less than what was already acknowledged; a process killed with SIGKILL loses nothing it
acknowledged, and the others fire its timers once and finish its services.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time

import pytest
import websockets

from server_harness import WsClient, mint
from statesync_server.store.cluster import LISTENER
from statesync_server.testing import async_wait_for_state, get_state


_ids = itertools.count()


def token_for_tester() -> str:
    """A fresh token for each use: a module-level one would expire in a long suite."""
    return mint("tester")


async def _create(client: WsClient, machine: str, name: str, input: dict | None = None) -> dict:
    reply = await client.request({"type": "create", "id": f"c{next(_ids)}", "machine": machine,
                                  "instance": name, "input": input, "if_exists": "get"})
    assert reply["type"] == "created", reply
    return reply


async def _events(base: list[dict], client: WsClient, name: str, values: list[int],
                  tag: str) -> list[int]:
    """Send ADD n for each value, pipelined; the acked seqs, in order."""
    for n in values:
        await client.send({"type": "send", "machine": "counter", "instance": name,
                           "event": {"type": "ADD", "n": n}, "event_id": f"{tag}-{n}"})
    seqs = []
    for n in values:
        reply = await client.expect(
            lambda m, n=n: m["type"] in ("ack", "reject") and m.get("event_id") == f"{tag}-{n}",
            timeout=60)
        assert reply["type"] == "ack", reply
        seqs.append(reply["seq"])
    base.append({"tag": tag, "seqs": seqs})
    return seqs


async def test_concurrent_writers_through_every_process_apply_each_event_once(cluster):
    servers = cluster(3)
    clients = [await WsClient.connect(server, token_for_tester()) for server in servers]
    watchers = [await WsClient.connect(server, token_for_tester()) for server in servers]
    await _create(clients[0], "counter", "shared")
    for watcher in watchers:
        reply = await watcher.request({"type": "subscribe", "id": "s", "machine": "counter",
                                       "instance": "shared"})
        assert reply["type"] == "subscribed", reply
        await watcher.update("shared", 0)

    per_process = 60
    values = [list(range(i * 1000 + 1, i * 1000 + per_process + 1)) for i in range(3)]
    acks: list[dict] = []
    await asyncio.gather(*(_events(acks, c, "shared", v, f"p{i}")
                           for i, (c, v) in enumerate(zip(clients, values, strict=True))))
    total = 3 * per_process
    all_seqs = sorted(seq for ack in acks for seq in ack["seqs"])
    assert all_seqs == list(range(1, total + 1))  # one gap-free order, no seq given twice

    expected = sum(sum(v) for v in values)  # a serial application of every event
    for server in servers:  # every process answers the final state: no stale cache
        state = get_state(server, "counter", "shared", token=token_for_tester())
        assert state["seq"] == total and state["context"]["count"] == expected, state

    for watcher in watchers:  # each subscriber: every update, in seq order, exactly once
        seen = []
        while len(seen) < total:
            update = await watcher.expect(lambda m: m["type"] == "update", timeout=30)
            seen.append(update["seq"])
        assert seen == list(range(1, total + 1))
        assert not [m for m in await watcher.quiet(0.3) if m["type"] == "update"]
    for server in servers:
        assert "internal" not in server.log()
        assert "Traceback" not in server.log()


async def test_a_subscriber_misses_nothing_when_its_process_loses_the_notifications(
        cluster, statesync_postgres):
    servers = cluster(2)
    watcher = await WsClient.connect(servers[1], token_for_tester())
    writer = await WsClient.connect(servers[0], token_for_tester())
    await _create(writer, "counter", "gap")
    reply = await watcher.request({"type": "subscribe", "id": "s", "machine": "counter",
                                   "instance": "gap"})
    assert reply["type"] == "subscribed", reply
    await watcher.update("gap", 0)
    _drop_listeners(statesync_postgres.url)  # every LISTEN connection is cut by the database
    for n in range(1, 21):  # committed while nobody hears about it
        assert (await writer.send_event("counter", "gap", {"type": "ADD", "n": 1}, f"g{n}"))["type"] == "ack"
    seen = [(await watcher.expect(lambda m: m["type"] == "update", timeout=30))["seq"]
            for _ in range(20)]
    assert seen == list(range(1, 21))
    assert "lost the notification connection" in servers[1].log()


def _drop_listeners(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cut = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name LIKE %s", (LISTENER + " %",)).fetchall()
    assert cut, "no LISTEN connection found"


async def test_emitted_events_reach_subscribers_on_every_process(cluster):
    servers = cluster(2)
    writer = await WsClient.connect(servers[0], token_for_tester())
    await _create(writer, "counter", "pinged")
    listeners = [await WsClient.connect(server, token_for_tester()) for server in servers]
    for listener in listeners:
        reply = await listener.request({"type": "subscribe", "id": "s", "machine": "counter",
                                        "instance": "pinged"})
        assert reply["type"] == "subscribed", reply
    large = "x" * 10_000  # more than a NOTIFY payload may carry: read from the log
    sent = [1, 2, 3, large]
    for seq, n in enumerate(sent, 1):
        reply = await writer.send_event("counter", "pinged", {"type": "PING", "n": n}, f"p{seq}")
        assert reply["type"] == "ack", reply
    for index, listener in enumerate(listeners):
        try:
            got = [await listener.expect(lambda m: m["type"] == "emitted", timeout=15)
                   for _ in sent]
        except TimeoutError:
            raise AssertionError(f"listener {index} got {listener.inbox}") from None
        assert [(m["seq"], m["event"]) for m in got] == [
            (seq, {"type": "pong", "n": n}) for seq, n in enumerate(sent, 1)]


async def test_a_subscriber_whose_process_had_not_cached_the_instance_gets_every_emitted_event(
        cluster):
    """Subscribe on B while A commits emitting transitions as fast as it can: B's subscriber
    gets the emitted event of every seq after the one it subscribed at (the notices that
    arrived while B was still loading the instance used to be dropped: no subscriber yet)."""
    servers = cluster(2)
    names = [f"busy-emitter{i}" for i in range(8)]
    pings = 100

    async def one(name: str) -> tuple[int, list[int], list[int]]:
        writer = await WsClient.connect(servers[0], token_for_tester())
        await _create(writer, "counter", name)
        listener = await WsClient.connect(servers[1], token_for_tester())
        for n in range(1, pings + 1):  # pipelined: commits keep coming during the subscribe
            await writer.send({"type": "send", "machine": "counter", "instance": name,
                               "event": {"type": "PING", "n": n}, "event_id": f"{name}-{n}"})
            if n == 20:
                await listener.send({"type": "subscribe", "id": "s", "machine": "counter",
                                     "instance": name})
        subscribed = await listener.expect(lambda m: m.get("id") == "s", timeout=30)
        assert subscribed["type"] == "subscribed", subscribed
        updates = [(await listener.update(name))["seq"]]  # the state it subscribed at, first
        while updates[-1] < pings:
            updates.append((await listener.update(name))["seq"])
        emitted = [m["seq"] for m in await listener.quiet(0.5) + listener.inbox
                   if m["type"] == "emitted"]
        await listener.close()
        return subscribed["seq"], updates, emitted

    results = await asyncio.gather(*(one(name) for name in names))
    for start, updates, emitted in results:
        assert updates == list(range(start, pings + 1))
        after = [seq for seq in emitted if seq > start]
        assert after == list(range(start + 1, pings + 1)), (start, emitted)


async def test_reads_through_another_process_are_never_staler_than_an_ack(cluster):
    servers = cluster(3)
    writer = await WsClient.connect(servers[0], token_for_tester())
    readers = [await WsClient.connect(server, token_for_tester()) for server in servers[1:]]
    await _create(writer, "counter", "fresh")
    for reader in readers:  # cache the instance at seq 0 in the other processes
        reply = await reader.request({"type": "get", "id": f"g{next(_ids)}",
                                      "machine": "counter", "instance": "fresh"})
        assert reply["seq"] == 0, reply
    for n in range(1, 31):
        reply = await writer.send_event("counter", "fresh", {"type": "ADD", "n": 1}, f"f{n}")
        assert reply["type"] == "ack"
        for reader in readers:  # right after the ack, before any notification may arrive
            got = await reader.request({"type": "get", "id": f"g{next(_ids)}",
                                        "machine": "counter", "instance": "fresh"})
            assert got["seq"] >= reply["seq"], (got, reply)
        state = get_state(servers[2], "counter", "fresh", token=token_for_tester())
        assert state["seq"] >= reply["seq"]


async def test_an_instance_created_elsewhere_is_found_at_once(cluster):
    servers = cluster(2)
    late = await WsClient.connect(servers[1], token_for_tester())
    missing = await late.request({"type": "get", "id": "g0", "machine": "counter",
                                  "instance": "later"})
    assert missing["type"] == "error" and missing["code"] == "not-found"
    await _create(await WsClient.connect(servers[0], token_for_tester()), "counter", "later")
    found = await late.request({"type": "get", "id": "g1", "machine": "counter",
                                "instance": "later"})
    assert found["type"] == "state" and found["seq"] == 0, found


async def test_a_live_query_on_one_process_follows_commits_through_another(cluster):
    servers = cluster(2)
    watcher = await WsClient.connect(servers[1], token_for_tester())
    first = await watcher.request({"type": "watch", "id": "w", "machine": "counter",
                                   "index": "last", "op": "eq", "value": 7})
    assert first["type"] == "results" and first["items"] == [], first
    writer = await WsClient.connect(servers[0], token_for_tester())
    await _create(writer, "counter", "q")  # not in the set: never mentioned
    await writer.send_event("counter", "q", {"type": "ADD", "n": 7}, "q1")
    change = await watcher.expect(lambda m: m["type"] == "query-change", timeout=15)
    assert (change["change"], change["instance"], change["seq"]) == ("enter", "q", 1), change
    await writer.send_event("counter", "q", {"type": "ADD", "n": 3}, "q2")
    change = await watcher.expect(lambda m: m["type"] == "query-change", timeout=15)
    assert (change["change"], change["instance"]) == ("leave", "q"), change


async def test_kill_9_under_concurrent_load_loses_no_acknowledged_event(cluster):
    servers = cluster(3)
    setup = await WsClient.connect(servers[1], token_for_tester())
    names = [f"hot{i}" for i in range(4)]
    for name in names:
        await _create(setup, "counter", name)
    acked: dict[str, int] = {}
    stop = asyncio.Event()

    async def drive(index: int) -> None:
        """One client: events to random hot instances; on a lost connection it reconnects to
        the next process and resends what was not acknowledged (same event ids)."""
        target, n, unacked = index, 0, []
        while not stop.is_set() or unacked:  # a sent event is resent until acknowledged
            try:
                client = await WsClient.connect(servers[target % 3], token_for_tester())
            except OSError:
                target += 1
                continue
            try:
                while not stop.is_set() or unacked:
                    if not unacked:
                        n += 1
                        unacked = [(f"d{index}-{n}", names[n % len(names)])]
                    event_id, name = unacked[0]
                    reply = await client.send_event("counter", name, {"type": "ADD", "n": 1},
                                                    event_id)
                    assert reply["type"] == "ack", reply
                    acked[event_id] = reply["seq"]
                    unacked = []
            except (websockets.ConnectionClosed, OSError, TimeoutError):
                target += 1  # the process died under us: carry on with a survivor

    drivers = [asyncio.create_task(drive(i)) for i in range(6)]
    await asyncio.sleep(2)
    servers[0].kill()
    before_kill = len(acked)
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*drivers)
    assert before_kill > 0 and len(acked) > before_kill  # the load carried on after the kill
    total = 0
    for name in names:
        state = get_state(servers[1], "counter", name, token=token_for_tester())
        log = _log(servers[2], "counter", name)
        assert [e["seq"] for e in log] == list(range(state["seq"] + 1))  # gap-free
        total += state["context"]["count"]
    assert total == len(acked)  # every acknowledged event applied exactly once, nothing else
    for server in servers[1:]:
        assert "Traceback" not in server.log()
        # lost races are no driver warnings without the instance and process
        assert not [line for line in server.log().splitlines() if "psycopg" in line], \
            server.log()


async def test_a_process_that_starts_leaves_the_live_processes_work_alone(cluster):
    first = cluster(1, stall=(0,))[0]  # its services hang: still running when others start
    client = await WsClient.connect(first, token_for_tester())
    for i in range(5):
        await _create(client, "job", f"busy{i}")
        await _create(client, "timed", f"later{i}", {"delay": 4000})
    others = cluster(2, join=first)
    await asyncio.sleep(3 * 1.5)  # three leases: the first process is alive, nothing moves
    for server in others:
        assert "took over" not in server.log()
    for i in range(5):
        state = get_state(others[0], "job", f"busy{i}", token=token_for_tester())
        assert state["value"] == "working"  # its service runs on the first process only
        state = await async_wait_for_state(others[1], "timed", f"later{i}", token=token_for_tester(),
                                           value="fired", timeout=30)
        assert [e["origin"] for e in _log(others[1], "timed", f"later{i}")] == ["client", "timer"]


async def test_a_killed_process_loses_nothing_and_its_timers_and_services_move(cluster):
    servers = cluster(3, stall=(0,))
    doomed, survivors = servers[0], servers[1:]
    client = await WsClient.connect(doomed, token_for_tester())
    for i in range(5):  # timers owned by the doomed process; due after it is gone
        await _create(client, "timed", f"t{i}", {"delay": 800})
    for i in range(5):  # services it starts and never finishes (they hang there)
        await _create(client, "job", f"j{i}")
    await _create(client, "counter", "load")
    acked = []
    for n in range(1, 21):
        reply = await client.send_event("counter", "load", {"type": "ADD", "n": n}, f"k{n}")
        assert reply["type"] == "ack"
        acked.append(n)
    doomed.kill()  # SIGKILL: no clean leave, its heartbeat just stops
    killed_at = time.monotonic()

    for i in range(5):
        state = await async_wait_for_state(survivors[i % 2], "timed", f"t{i}", token=token_for_tester(),
                                           value="fired", timeout=30)
        assert state["seq"] == 1  # fired exactly once
        state = await async_wait_for_state(survivors[i % 2], "job", f"j{i}", token=token_for_tester(),
                                           value="done", timeout=30)
        assert state["seq"] == 1
    taken_over = time.monotonic() - killed_at

    state = get_state(survivors[0], "counter", "load", token=token_for_tester())
    assert state["seq"] == 20 and state["context"]["count"] == sum(acked)
    # a client of the dead process reconnects to a survivor and carries on (a resend of the
    # last acked event is answered as a duplicate, not applied again)
    client = await WsClient.connect(survivors[0], token_for_tester())
    again = await client.send_event("counter", "load", {"type": "ADD", "n": 20}, "k20")
    assert again["type"] == "ack" and again["duplicate"] is True and again["seq"] == 20
    more = await client.send_event("counter", "load", {"type": "ADD", "n": 21}, "k21")
    assert more["type"] == "ack" and more["seq"] == 21

    for i in range(5):  # the log shows one timer event and one service result, no more
        log = _log(survivors[1], "timed", f"t{i}")
        assert [e["origin"] for e in log] == ["client", "timer"], log
        log = _log(survivors[1], "job", f"j{i}")
        assert [e["origin"] for e in log] == ["client", "service"], log
    print(f"timers and services taken over {taken_over:.1f} s after the kill")
    for server in survivors:
        assert "Traceback" not in server.log()


def _log(server, machine: str, instance: str) -> list[dict]:
    """The whole event log, page by page."""
    import json
    import urllib.request

    entries, since = [], -1
    while since is not None:
        request = urllib.request.Request(
            f"{server.url}/v1/instances/{machine}/{instance}/events?since={since}&limit=1000",
            headers={"Authorization": f"Bearer {token_for_tester()}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        entries += page["entries"]
        since = page["next"]
    return entries


async def test_processes_started_together_on_an_empty_database_all_come_up(cluster):
    servers = cluster(3)
    for server in servers:
        assert server.proc.poll() is None


def test_a_second_process_on_one_sqlite_file_refuses_to_start(tmp_path):
    from server_harness import ServerProcess

    first = ServerProcess(tmp_path / "one.db").start()
    second = ServerProcess(tmp_path / "one.db")
    try:
        with contextlib.suppress(RuntimeError):  # it may be seen exiting, or exit just after
            second.start()
        assert second.proc.wait(30) == 2
        _assert_one_line_refusal(second, "already served by another statesync process")
        assert get_state(first, "counter", "nothing", token=token_for_tester()) is None  # first one serves
    finally:
        second.kill()
        first.stop()


async def test_a_process_is_not_starved_on_an_instance_another_keeps_busy(cluster):
    """Every instance written through every process (no sticky routing): while one process
    commits to an instance as fast as its clients send, a client of another process still
    gets its events applied, during that load. (A write that lost a race used to lose again
    and again to the process whose cache was always fresh, until the load stopped.)"""
    busy, other = cluster(2)
    setup = await WsClient.connect(busy, token_for_tester())
    await _create(setup, "counter", "contended")
    done = asyncio.Event()
    busy_acks = 0
    deadline = time.monotonic() + 60  # the load's bound if the other process starved

    async def hammer(index: int) -> None:
        nonlocal busy_acks
        client = await WsClient.connect(busy, token_for_tester())
        for n in itertools.count():
            if done.is_set() or time.monotonic() > deadline:
                break
            reply = await client.send_event("counter", "contended", {"type": "ADD", "n": 1},
                                            f"busy{index}-{n}")
            assert reply["type"] == "ack", reply
            busy_acks += 1
        await client.close()

    load = [asyncio.create_task(hammer(i)) for i in range(12)]
    while busy_acks < 50:  # the load is on
        await asyncio.sleep(0.01)
    client = await WsClient.connect(other, token_for_tester())
    before = busy_acks
    for n in range(10):
        await client.send({"type": "send", "machine": "counter", "instance": "contended",
                           "event": {"type": "ADD", "n": 1}, "event_id": f"other-{n}"})
        reply = await client.expect(lambda m, n=n: m.get("event_id") == f"other-{n}", timeout=90)
        assert reply["type"] == "ack", reply
    during = busy_acks - before
    starved = time.monotonic() > deadline
    done.set()
    await asyncio.gather(*load)
    assert not starved, "the other process's events waited for the load to end"
    assert during > 0  # the busy process kept committing meanwhile: the race was real
    state = get_state(other, "counter", "contended", token=token_for_tester())
    assert state["context"]["count"] == busy_acks + 10


@pytest.mark.parametrize("url, reason", [
    ("postgresql://postgres@127.0.0.1:1/nowhere", "cannot use the database"),  # unreachable
    ("nosuchdialect://host/db", "--database-url"),
])
def test_a_start_up_refusal_is_one_line_and_exit_status_2(url, reason):
    from server_harness import ServerProcess

    server = ServerProcess(url)
    try:
        with contextlib.suppress(RuntimeError):  # it exits instead of serving
            server.start()
        assert server.proc.wait(30) == 2
        _assert_one_line_refusal(server, reason)
    finally:
        server.kill()


def _assert_one_line_refusal(server, reason: str) -> None:
    """The process said why in one line, with no traceback."""
    deadline = time.monotonic() + 10  # its output may still be read by the harness
    while reason not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = server.log().splitlines()
    assert len([line for line in lines if reason in line]) == 1, server.log()
    assert not [line for line in lines if "Traceback" in line or "startup failed" in line], \
        server.log()
