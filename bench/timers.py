"""Durable timer benchmark: N timers due at the same moment.

    python bench/timers.py            # 10,000 timers (about 30 s)
    python bench/timers.py --quick    # 500 timers, a few seconds (the smoke test runs it)

Scenario `live`: N instances are created and subscribed to (over one WebSocket, pipelined);
then each gets an `ARM` event entering a state whose `after` delay makes it due at the same
wall-clock moment T (a few seconds later). Reported: time from T until the last timer fired, and the
lateness of each timer (update received by the subscriber - T; and, server side, the
transition's log time - T) as p50/p99/max.

Scenario `spread`: 200 timers due 10 ms apart (one at a time): the precision of a single
timer, lateness p50/p99 as above.

Scenario `restart`: N timers due while the server is down (`kill -9` before T, started again
after T): time from the restarted server being ready until every late timer has fired.

The server runs in its own process with this file as its app (the `app` below).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from statesync import Machine, assign
from statesync_server import App

from server import Process, connect

# The timer is due at the absolute time in the input (epoch ms); the delay is computed when
# the state is entered.
timer = Machine(
    {
        "id": "t",
        "initial": "idle",
        "context": lambda input: {"due": (input or {}).get("due")},
        "states": {
            "idle": {"on": {"ARM": {"target": "waiting", "actions": "setDue"}}},
            "waiting": {"after": {"untilDue": "fired"}},
            "fired": {"type": "final"},
        },
    },
    actions={"setDue": assign({"due": lambda ctx, ev: ev["due"]})},
    delays={"untilDue": lambda ctx, ev: max(0.0, ctx["due"] - time.time() * 1000)},
)
app = App()
app.register("t", timer)


def serve(db: Path) -> Process:
    return Process([
        sys.executable, "-m", "statesync_server", "serve", f"{__file__}:app", "--port", "0",
        "--database-url", f"sqlite+aiosqlite:///{db}", "--rate-limit", "0", "--create-rate", "0",
    ])


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(_pct(values, 50) * 1000, 1), "p99_ms": round(_pct(values, 99) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1)}


async def _acquire(window: asyncio.Semaphore, reader: asyncio.Task[None]) -> None:
    """A slot of the send window; raises what the reader raised (an error reply) instead of
    waiting forever for a slot it will never release."""
    slot = asyncio.ensure_future(window.acquire())
    await asyncio.wait({slot, reader}, return_when=asyncio.FIRST_COMPLETED)
    if not slot.done():
        slot.cancel()
        await reader  # raises
        raise RuntimeError("the reader stopped early")


async def _create_all(url: str, n: int, prefix: str, subscribe: bool) -> Any:
    """Create n instances (and subscribe to them); the open socket."""
    ws = await connect(url, "bench")
    window = asyncio.Semaphore(500)
    replies = 0
    done = asyncio.Event()

    async def read() -> None:
        nonlocal replies
        while replies < n * (2 if subscribe else 1):
            message = json.loads(await ws.recv())
            if message["type"] in ("created", "subscribed"):
                replies += 1
                window.release()
            elif message["type"] == "error":
                raise RuntimeError(message)
        done.set()

    reader = asyncio.create_task(read())
    for i in range(n):
        await _acquire(window, reader)
        await ws.send(json.dumps({"type": "create", "id": i, "machine": "t",
                                  "instance": f"{prefix}{i}"}))
        if subscribe:
            await _acquire(window, reader)
            await ws.send(json.dumps({"type": "subscribe", "id": f"s{i}", "machine": "t",
                                      "instance": f"{prefix}{i}"}))
    await reader
    return ws


async def _arm_all(ws: Any, n: int, prefix: str, due_ms: float, step_ms: float = 0.0) -> None:
    """Send every instance its ARM event (instance i due at `due_ms + i * step_ms`); return
    once all are acked."""
    window = asyncio.Semaphore(500)
    acks = 0

    async def read() -> None:
        nonlocal acks
        while acks < n:
            message = json.loads(await ws.recv())
            if message["type"] == "ack":
                acks += 1
                window.release()
            elif message["type"] in ("reject", "error"):
                raise RuntimeError(message)

    reader = asyncio.create_task(read())
    for i in range(n):
        await _acquire(window, reader)
        await ws.send(json.dumps({"type": "send", "machine": "t", "instance": f"{prefix}{i}",
                                  "event": {"type": "ARM", "due": due_ms + i * step_ms},
                                  "event_id": f"arm{i}"}))
    await reader


async def live(directory: Path, n: int, lead: float) -> dict[str, Any]:
    server = serve(directory / "live.db")
    try:
        began = time.time()
        ws = await _create_all(server.ws_url, n, "live-", subscribe=True)
        setup = time.time() - began
        due = time.time() + lead
        await _arm_all(ws, n, "live-", due * 1000)
        armed = time.time() - due + lead
        if time.time() >= due:
            raise SystemExit(f"arming took {armed:.1f} s, longer than --lead {lead} s")
        received: dict[str, float] = {}
        while len(received) < n:
            message = json.loads(await asyncio.wait_for(ws.recv(), lead + 120))
            if message["type"] == "update" and message["value"] == "fired" and message["seq"] == 2:
                received[message["instance"]] = time.time()
        await ws.close()
    finally:
        server.stop()
    conn = sqlite3.connect(directory / "live.db")
    logged = [at for (at,) in conn.execute("SELECT at FROM events WHERE origin='timer'")]
    conn.close()
    client = [t - due for t in received.values()]
    server_side = [t - due for t in logged]
    assert len(logged) == n, (len(logged), n)
    return {
        "timers": n,
        "create_and_subscribe_s": round(setup, 2),
        "arm_s": round(armed, 2),
        "all_fired_after_s": round(max(client), 3),
        "lateness_update_received": _summary(client),
        "lateness_server_applied": _summary(server_side),
        "early": sum(1 for x in server_side if x < 0),
    }


async def spread(directory: Path, n: int = 200, step: float = 0.010) -> dict[str, Any]:
    server = serve(directory / "spread.db")
    try:
        ws = await _create_all(server.ws_url, n, "one-", subscribe=True)
        due = time.time() + 2.0
        await _arm_all(ws, n, "one-", due * 1000, step * 1000)
        received: dict[int, float] = {}
        while len(received) < n:
            message = json.loads(await asyncio.wait_for(ws.recv(), 60))
            if message["type"] == "update" and message["value"] == "fired" and message["seq"] == 2:
                received[int(message["instance"][4:])] = time.time()
        await ws.close()
    finally:
        server.stop()
    conn = sqlite3.connect(directory / "spread.db")
    logged = {int(name[4:]): at for name, at in
              conn.execute("SELECT instance, at FROM events WHERE origin='timer'")}
    conn.close()
    client = [t - (due + i * step) for i, t in received.items()]
    server_side = [t - (due + i * step) for i, t in logged.items()]
    return {"timers": n, "spacing_ms": step * 1000,
            "lateness_update_received": _summary(client),
            "lateness_server_applied": _summary(server_side),
            "early": sum(1 for x in server_side if x < 0)}


async def restart(directory: Path, n: int, lead: float) -> dict[str, Any]:
    db = directory / "restart.db"
    server = serve(db)
    ws = await _create_all(server.ws_url, n, "late-", subscribe=False)
    due = time.time() + lead
    await _arm_all(ws, n, "late-", due * 1000)
    await ws.close()
    server.proc.kill()  # kill -9 with every timer pending
    server.proc.wait()
    await asyncio.sleep(max(0.0, due - time.time()) + 0.5)  # all due while the server is down
    began = time.time()
    server = serve(db)
    ready = time.time()
    try:
        conn = sqlite3.connect(db, timeout=30)
        while conn.execute("SELECT count(*) FROM timers").fetchone()[0] > 0:
            await asyncio.sleep(0.01)
        finished = time.time()
        fired = conn.execute("SELECT count(*) FROM events WHERE origin='timer'").fetchone()[0]
        conn.close()
    finally:
        server.stop()
    assert fired == n, (fired, n)
    # The scheduler starts firing inside the server's start-up (before it reports ready).
    return {"timers": n, "server_ready_s": round(ready - began, 2),
            "all_fired_after_process_start_s": round(finished - began, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=None,
                        help="seconds from the start until the timers are due (default: by size)")
    parser.add_argument("--quick", action="store_true", help="500 timers, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    n = 500 if args.quick else args.timers
    lead = args.lead or max(3.0, n / 1000)
    with tempfile.TemporaryDirectory(prefix="statesync-timers-") as tmp:
        results = {
            "live": asyncio.run(live(Path(tmp), n, lead)),
            "spread": asyncio.run(spread(Path(tmp), 50 if args.quick else 200)),
            "restart": asyncio.run(restart(Path(tmp), n, lead)),
            "cpus": os.cpu_count(),
            "loadavg": os.getloadavg()[0],
        }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
