"""Crash tests: `kill -9` the server at random moments under load, restart it on the same
database, and check every invariant (bounded: a few rounds, a few seconds each)."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
import zlib

import websockets
from server_harness import mint

ROUNDS = int(os.environ.get("STATESYNC_CRASH_ROUNDS", "4"))
FLOWS = [f"f{i}" for i in range(6)]


async def _drive(server, round_no: int, acked: dict, created: dict, rng: random.Random) -> None:
    """Send GO events to the flows and create jobs, pipelined, until the server dies."""
    counter = itertools.count()
    window = asyncio.Semaphore(16)
    try:
        async with websockets.connect(server.ws_url, max_size=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": mint("driver"), "id": "auth"}))

            async def read() -> None:
                try:
                    async for raw in ws:
                        message = json.loads(raw)
                        if message["type"] == "ack":
                            acked[message["event_id"]] = (message["instance"], message["seq"])
                        elif message["type"] == "created":
                            created[message["instance"]] = message["seq"]
                        if message["type"] in ("ack", "reject", "created", "error"):
                            window.release()
                finally:
                    window.release()  # unblock the sender: the connection is gone

            reader = asyncio.create_task(read())
            try:
                while not reader.done():
                    await window.acquire()
                    n = next(counter)
                    if n % 8 == 7:
                        name = f"j{round_no}-{n}"
                        await ws.send(json.dumps({
                            "type": "create", "id": name, "machine": "job", "instance": name,
                            "input": {"x": n, "seconds": rng.uniform(0.01, 0.3)}}))
                    else:
                        await ws.send(json.dumps({
                            "type": "send", "machine": "flow", "instance": rng.choice(FLOWS),
                            "event": {"type": "GO"}, "event_id": f"r{round_no}-{n}"}))
            finally:
                reader.cancel()
    except (websockets.ConnectionClosed, OSError, asyncio.CancelledError):
        return


async def test_kill_9_under_load_keeps_every_invariant(flow, monkeypatch) -> None:
    monkeypatch.setenv("FLOWAPP_DELAY_MS", "150")
    rng = random.Random(int(os.environ.get("STATESYNC_CRASH_SEED", time.time_ns() % 10**6)))
    acked: dict[str, tuple[str, int]] = {}
    created: dict[str, int] = {}

    server = flow.start()
    async with websockets.connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": mint("setup"), "id": 0}))
        await ws.send(json.dumps({"type": "create", "id": 1, "machine": "sink",
                                  "instance": "crash-sink"}))
        for i, name in enumerate(FLOWS):
            await ws.send(json.dumps({"type": "create", "id": 2 + i, "machine": "flow",
                                      "instance": name, "input": {"me": name}}))
        replies = [json.loads(await ws.recv()) for _ in range(2 + len(FLOWS))]
        assert all(r["type"] in ("authed", "created") for r in replies), replies

    for round_no in range(ROUNDS):
        driver = asyncio.create_task(_drive(server, round_no, acked, created, rng))
        await asyncio.sleep(rng.uniform(0.3, 1.2))
        server.proc.kill()  # SIGKILL: mid-commit, mid-effect, mid-delivery
        server.proc.wait()
        await asyncio.wait_for(driver, 10)
        server = flow.start()

    def idle() -> bool:
        timers = flow.query("SELECT count(*) FROM timers")[0][0]
        pending = flow.query("SELECT count(*) FROM outbox WHERE status='pending'")[0][0]
        return timers == 0 and pending == 0

    started = time.monotonic()
    flow.wait(idle, timeout=60, what="all timers fired and all outbox rows finished")
    print(f"{ROUNDS} kills, {len(acked)} acked events, {len(created)} jobs; "
          f"settled {time.monotonic() - started:.1f} s after the last restart")
    server.stop()
    assert acked, "the load never got an ack"

    # 1. no acknowledged event is missing from the log (at the acked seq); seqs are gap-free
    logged = {(r["instance"], r["event_id"]): r["seq"]
              for r in flow.query("SELECT instance, event_id, seq FROM events "
                                  "WHERE machine='flow' AND event_id IS NOT NULL")}
    for event_id, (instance, seq) in acked.items():
        assert logged.get((instance, event_id)) == seq, (event_id, instance, seq)
    for row in flow.query("SELECT machine, instance, count(*) AS n, max(seq) AS top "
                          "FROM events GROUP BY machine, instance"):
        assert row["n"] == row["top"] + 1, dict(row)

    # every committed effect key; nothing ran that was not committed
    committed_keys: set[str] = set()
    sink = json.loads(flow.query("SELECT snapshot FROM instances WHERE name='crash-sink'")[0][0])
    for name in FLOWS:
        log = flow.log("flow", name)
        gos = [r for r in log if r["event"]["type"] == "GO"]
        ticks = [r for r in log if r["event"]["type"] == "TICK"]
        context = json.loads(flow.query("SELECT snapshot FROM instances WHERE name=?",
                                        name)[0][0])["context"]
        count = len(gos)
        assert context["n"] == count
        # 2. every timer fired exactly once (and only for committed GOs)
        assert all(r["origin"] == "timer" for r in ticks)
        assert sorted(r["event"]["n"] for r in ticks) == list(range(1, count + 1)), name
        assert sorted(context["ticks"]) == list(range(1, count + 1))
        # 3. every message arrived once, in order
        assert sink["context"]["got"].get(name, []) == list(range(1, count + 1)), name
        committed_keys.update(f"flow/{name}/{r['seq']}/0" for r in gos)
    # 4. every effect completed, at least once, always with its key
    runs = flow.records("effect")
    ran = {r["key"] for r in runs}
    assert ran - committed_keys == set(), "an effect ran for a transition never committed"
    succeeded = {r["key"] for r in runs
                 if not (r["attempt"] == 1 and zlib.crc32(r["key"].encode()) % 3 == 0)}
    assert committed_keys <= succeeded
    statuses = {r["status"] for r in flow.query("SELECT status FROM outbox")}
    assert statuses <= {"done", "cancelled"}, statuses
    # 5. every created job ran its service and took the result
    jobs = {r["name"]: json.loads(r["snapshot"])
            for r in flow.query("SELECT name, snapshot FROM instances WHERE machine='job'")}
    assert set(created) <= set(jobs)
    for name, snapshot in jobs.items():
        assert snapshot["value"] == "done", (name, snapshot)
        n = int(name.split("-")[1])
        assert snapshot["context"]["result"] == {"answer": 2 * n}
    service_keys = {r["key"] for r in flow.records("service")}
    assert service_keys <= {f"job/{name}/0/0" for name in jobs}
