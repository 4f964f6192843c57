"""A rolling deploy (docs/deployment.md): three processes under load move from app version 1
to version 2 one at a time, each stopped (Ctrl-C) and started again with the new file.

Nothing acknowledged is lost or applied twice; a process of version 1 never writes an
instance of version 2 (it answers `unavailable`, retryable, and the client goes on through
another process: no event is applied by version 1 of the machine after the instance moved to
version 2); every live process's app and served versions are in `nodes`, and an upgrade is
refused while a process that does not serve the new version is live; timers due during the
deploy fire once and jobs (effects) started during it finish; once every process runs version
2 the instances are upgraded through a running server, once each, and carry on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from pathlib import Path

import websockets

from server_harness import SECRET, ServerProcess, WsClient, mint
from statesync_server.testing.postgres import query

APPS = Path(__file__).parent / "apps"
V1, V2 = str(APPS / "rolling_v1.py"), str(APPS / "rolling_v2.py")
NAMES = [f"tally{i}" for i in range(6)]
_ids = itertools.count()
LOST = (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError, TimeoutError)
"""What a client sees of a process stopping under it (also during the handshake)."""


def _start(url: str, app: str) -> ServerProcess:
    return ServerProcess(url, "--cluster-lease", "1.5", app=app).start()


def _upgrade(url: str) -> subprocess.CompletedProcess[str]:
    """`statesync upgrade` of the tallies at version 1, through the server at `url`."""
    return subprocess.run(
        [sys.executable, "-m", "statesync_server", "upgrade", V2, "--machine", "tally",
         "--from", "1", "--url", url],
        capture_output=True, text=True, timeout=120, env={"STATESYNC_SECRET": SECRET, **_env()})


def _members(url: str) -> list[tuple[str, dict[str, list[str]]]]:
    """(app hash, served versions) of each process in `nodes`."""
    return [(row[0], json.loads(row[1])) for row in query(url, "SELECT app, versions FROM nodes")]


async def _mixed_cluster_refuses_an_upgrade(url: str, new: ServerProcess) -> None:
    """With version 1 processes live, `nodes` shows both apps and an upgrade to version 2 is
    refused (retryable), naming them: nothing is upgraded."""
    members = _members(url)
    assert len(members) == 3, members
    old = [m for m in members if m[1]["tally"] == ["1"]]
    new_ones = [m for m in members if m[1]["tally"] == ["1", "2"]]
    assert len(old) == 2 and len(new_ones) == 1, members
    assert old[0][0] == old[1][0] != new_ones[0][0]  # the app's hash: same app, same hash
    refused = await asyncio.to_thread(_upgrade, new.url)
    assert refused.returncode != 0, refused.stdout
    assert "unavailable" in refused.stderr and "2 live process(es) do not serve" in refused.stderr
    assert query(url, "SELECT count(*) FROM events WHERE origin = 'upgrade'")[0][0] == 0


async def _old_process_refuses_a_new_instance(new: ServerProcess, old: ServerProcess) -> None:
    """An instance a version 2 process creates is answered `unavailable` by a version 1 one
    (retryable: the client goes on through another process), never written by it."""
    client = await WsClient.connect(new, mint("tester"))
    reply = await client.request({"type": "create", "id": f"c{next(_ids)}",
                                  "machine": "tally", "instance": "made-by-v2"})
    assert reply["type"] == "created", reply
    await client.close()
    client = await WsClient.connect(old, mint("tester"))
    reply = await client.send_event("tally", "made-by-v2", {"type": "ADD"}, "through-v1")
    assert reply["type"] != "ack" and reply["code"] == "unavailable", reply
    await client.close()


async def test_a_rolling_deploy_loses_nothing_and_no_old_process_writes_a_new_instance(
        statesync_postgres):
    url = statesync_postgres.create_database("rolling")
    servers = [_start(url, V1) for _ in range(3)]
    retired: list[ServerProcess] = []
    try:
        setup = await WsClient.connect(servers[0], mint("tester"))
        for name in NAMES:
            reply = await setup.request({"type": "create", "id": f"c{next(_ids)}",
                                         "machine": "tally", "instance": name})
            assert reply["type"] == "created", reply
        for i in range(5):  # timers due while the processes are replaced
            reply = await setup.request({"type": "create", "id": f"c{next(_ids)}",
                                         "machine": "timed", "instance": f"due{i}",
                                         "input": {"delay": 2000 + 1500 * i}})
            assert reply["type"] == "created", reply
        await setup.close()

        acked: dict[str, tuple[str, int]] = {}
        created: list[str] = []
        jobs: list[str] = []
        stop = asyncio.Event()

        async def drive(index: int) -> None:
            """Events to the tallies and to instances this driver creates as it goes (created
            by whichever process it is on: version 2 ones once it reaches a new process);
            a lost connection moves to the next process, a refused event is sent again."""
            target, work = index, []
            for n in itertools.count():
                if stop.is_set():
                    break
                if n % 10 == 0:
                    name = f"new{index}-{n}"
                    work.append(("create", name, f"n{index}-{n}"))
                elif n % 10 == 5:
                    work.append(("job", f"job{index}-{n}", ""))
                else:
                    pool = NAMES + created[-4:]
                    work.append(("send", pool[n % len(pool)], f"d{index}-{n}"))
                while work:
                    kind, name, event_id = work[0]
                    try:
                        client = await WsClient.connect(servers[target % 3], mint("tester"))
                    except LOST:
                        target += 1
                        await asyncio.sleep(0.05)
                        continue
                    try:
                        while work:
                            kind, name, event_id = work[0]
                            if kind in ("create", "job"):
                                machine = "tally" if kind == "create" else "job"
                                reply = await client.request(
                                    {"type": "create", "id": f"c{next(_ids)}",
                                     "machine": machine, "instance": name, "if_exists": "get"})
                                ok = reply["type"] == "created"
                                if ok:
                                    (created if kind == "create" else jobs).append(name)
                            else:
                                reply = await client.send_event(
                                    "tally", name, {"type": "ADD"}, event_id)
                                ok = reply["type"] == "ack"
                                if ok:
                                    acked[event_id] = (name, reply["seq"])
                            if ok:
                                work.pop(0)
                                break
                            assert reply["code"] == "unavailable", reply
                            target += 1  # an old process: on through another one
                            break
                        await client.close()
                    except LOST:
                        target += 1
                await asyncio.sleep(0.01)

        drivers = [asyncio.create_task(drive(i)) for i in range(6)]
        while len(acked) < 30:
            await asyncio.sleep(0.05)
        for index in range(3):  # one at a time: stop, start with the new file
            servers[index].stop()
            retired.append(servers[index])
            servers[index] = _start(url, V2)
            if index == 0:  # the mixed cluster: an old process refuses a version 2 instance
                await _old_process_refuses_a_new_instance(servers[0], servers[1])
                await _mixed_cluster_refuses_an_upgrade(url, servers[0])
            before = len(acked)
            for _ in range(400):  # the load goes on through the mixed cluster (bounded)
                if len(acked) >= before + 20:
                    break
                await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*drivers), 120)

        for _ in range(100):  # one app everywhere (bounded: a process that left is gone)
            if len({m[0] for m in _members(url)}) == 1:
                break
            await asyncio.sleep(0.1)
        assert len({m[0] for m in _members(url)}) == 1, _members(url)
        upgrade = await asyncio.to_thread(_upgrade, servers[0].url)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        again = await asyncio.to_thread(_upgrade, servers[1].url)  # migrations run once
        assert again.returncode == 0 and again.stdout.startswith("0 upgraded"), again.stdout

        per_instance: dict[str, int] = {}
        for name, _seq in acked.values():
            per_instance[name] = per_instance.get(name, 0) + 1
        for name in set(NAMES) | set(created):
            rows = query(url, "SELECT seq, event_id, origin FROM events WHERE machine = 'tally' "
                         "AND instance = ? ORDER BY seq", name)
            if not rows:
                continue  # its creation was never acknowledged
            adds = [row[1] for row in rows if row[2] == "client" and row[0] > 0]
            assert len(adds) == len(set(adds))  # nothing applied twice
            assert set(adds) >= {i for i, (n, _) in acked.items() if n == name}  # none lost
            upgrades = [row[0] for row in rows if row[2] == "upgrade"]
            assert len(upgrades) <= 1, (name, upgrades)  # its migration ran once
            version, snapshot = query(url, "SELECT version, snapshot FROM instances WHERE "
                                      "machine = 'tally' AND name = ?", name)[0]
            assert version == "2", (name, version)
            context = json.loads(snapshot)["context"]
            assert context["count"] == len(adds), (name, context)
            # every add after the instance reached version 2 (its upgrade, or its creation by
            # a version 2 process) was applied by version 2 of the machine: no version 1
            # process wrote it after it was upgraded
            since_v2 = upgrades[0] if upgrades else 0
            assert context["by_v2"] == len([row for row in rows if row[2] == "client"
                                            and row[0] > since_v2]), (name, context, upgrades)
        for i in range(5):  # each timer fired once (the last may fall due after the deploy)
            for _ in range(600):  # bounded: 60 s for a timer due at most 8 s after its creation
                origins = [row[0] for row in query(
                    url, "SELECT origin FROM events WHERE machine = 'timed' AND instance = ? "
                    "ORDER BY seq", f"due{i}")]
                if "timer" in origins:
                    break
                await asyncio.sleep(0.1)
            assert origins == ["client", "timer"], (i, origins)
        assert jobs
        for name in jobs:  # each job's service ran to its end, on whichever process
            for _ in range(600):  # bounded: 60 s
                status = query(url, "SELECT status FROM instances WHERE machine = 'job' AND "
                               "name = ?", name)[0][0]
                if status == "done":
                    break
                await asyncio.sleep(0.1)
            assert status == "done", name
        for server in servers:  # the new processes write on
            client = await WsClient.connect(server, mint("tester"))
            reply = await client.send_event("tally", NAMES[0], {"type": "ADD"},
                                            f"after-{server.port}")
            assert reply["type"] == "ack", reply
        for server in [*retired, *servers]:
            assert "Traceback" not in server.log(), server.log()
    finally:
        for server in servers:
            server.stop()


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "STATESYNC_SECRET"}
