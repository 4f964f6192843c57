"""Durable workflow benchmark: 3-step workflows on SQLite and PostgreSQL, same run.

    python bench/workflows.py                      # both backends, 50 clients, 10 s each
    python bench/workflows.py --backends postgresql
    python bench/workflows.py --quick              # a few seconds (the smoke test runs it)

A workflow is an instance of the machine below: created with an input, it invokes the service
`step` three times in a row (each invocation an outbox row committed with the transition that
starts it, run by the server, its result a transition of its own) and ends in a final state.
`clients` WebSocket connections each run one workflow after the other: create, subscribe,
wait for the update with status `done`, unsubscribe. Reported per backend: workflows/s
completed over the measured phase (after a warm-up), and the CPU per workflow: the server
process's, and for PostgreSQL also the database's (postmaster, backends, the ones that ended),
summed. PostgreSQL is a throwaway durable cluster of the installed binaries (fsync and
synchronous commit on, as SQLite runs `synchronous=FULL` here), like bench/scale.py's.

CPU per workflow is what a loaded machine still measures honestly; compare backends, and
commits, within one run (the load average is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from scale import postgres_cpu_seconds  # noqa: E402
from server import Process, connect  # noqa: E402

from statesync import Machine  # noqa: E402
from statesync_server import App  # noqa: E402
from statesync_server.testing.postgres import PostgresServer  # noqa: E402

STEPS = 3


def _step_state(index: int) -> dict[str, Any]:
    following = f"step{index + 1}" if index + 1 < STEPS else "finished"
    return {"invoke": {"id": f"s{index}", "src": "step", "input": lambda ctx, ev: {"n": index},
                       "onDone": following}}


workflow = Machine({
    "id": "wf",
    "initial": "step0",
    "states": {
        **{f"step{i}": _step_state(i) for i in range(STEPS)},
        "finished": {"type": "final"},
    },
})


async def step(call: Any) -> dict[str, int]:
    """One step's work: nothing but a result (the benchmark measures the durable machinery)."""
    return {"done": call.input["n"]}


app = App()
app.register("wf", workflow, services={"step": step})


def serve(database_url: str) -> Process:
    return Process([sys.executable, "-m", "statesync_server", "serve", f"{__file__}:app",
                    "--port", "0", "--database-url", database_url, "--rate-limit", "0",
                    "--create-rate", "0"])


async def client(url: str, index: int, names: itertools.count, stop: asyncio.Event,
                 done_at: list[float]) -> None:
    """Run workflows one after the other until `stop`; append each completion time."""
    ws = await connect(url, f"wf{index}")
    try:
        while not stop.is_set():
            name = f"w{next(names)}"
            await ws.send(json.dumps({"type": "create", "id": "c", "machine": "wf",
                                      "instance": name}))
            await ws.send(json.dumps({"type": "subscribe", "id": "s", "machine": "wf",
                                      "instance": name}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if message["type"] == "error":
                    raise RuntimeError(message)
                if message.get("instance") == name and message.get("status") == "done":
                    done_at.append(time.perf_counter())
                    break
            await ws.send(json.dumps({"type": "unsubscribe", "machine": "wf", "instance": name}))
    finally:
        await ws.close()


async def measure(url: str, clients: int, warmup: float, seconds: float,
                  server_cpu: Any, database_cpu: Any) -> dict[str, Any]:
    """Drive `clients` workflow loops; workflows/s and CPU ms per workflow over the phase
    after `warmup` (`server_cpu()`, `database_cpu()`: CPU seconds used so far)."""
    stop, names, done_at = asyncio.Event(), itertools.count(), []
    tasks = [asyncio.create_task(client(url, i, names, stop, done_at)) for i in range(clients)]
    await asyncio.sleep(warmup)
    began, count_began = time.perf_counter(), len(done_at)
    server_began, database_began = server_cpu(), database_cpu()
    await asyncio.sleep(seconds)
    elapsed, completed = time.perf_counter() - began, len(done_at) - count_began
    server_used, database_used = server_cpu() - server_began, database_cpu() - database_began
    stop.set()
    await asyncio.gather(*tasks)
    if not completed:
        raise RuntimeError("no workflow completed in the measured phase")
    return {"workflows_per_s": round(completed / elapsed, 1),
            "cpu_ms_per_workflow": round((server_used + database_used) / completed * 1000, 2),
            "server_cpu_ms_per_workflow": round(server_used / completed * 1000, 2),
            "database_cpu_ms_per_workflow": round(database_used / completed * 1000, 2),
            "completed": completed}


def run_backend(backend: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    postgres = None
    if backend == "postgresql":
        postgres = PostgresServer(durable=True).start()
        url = postgres.create_database("workflows")
    else:
        url = f"sqlite+aiosqlite:///{directory / 'workflows.db'}"
    try:
        server = serve(url)
        try:
            result = asyncio.run(measure(server.ws_url, args.clients, args.warmup, args.seconds,
                                         server.cpu_seconds,
                                         lambda: postgres_cpu_seconds(postgres)))
        finally:
            server.stop()
    finally:
        if postgres is not None:
            postgres.stop()
    return {"backend": backend, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="comma-separated: sqlite, postgresql")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured phase")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per backend, interleaved (median reported)")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds, args.warmup, args.repeats = 5, 2.0, 0.5, 1
    backends = [b for b in args.backends.split(",") if b]
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory(prefix="statesync-workflows-") as tmp:
        for repeat in range(args.repeats):
            for backend in backends:
                directory = Path(tmp) / f"{backend}{repeat}"
                directory.mkdir()
                runs[backend].append(run_backend(backend, args, directory))
    results = []
    for backend, rows in runs.items():
        rows.sort(key=lambda r: r["workflows_per_s"])
        median = rows[len(rows) // 2]
        results.append({**median, "runs": [r["workflows_per_s"] for r in rows],
                        "cpu_runs": [r["cpu_ms_per_workflow"] for r in rows]})
    print(f"{'backend':<12} {'workflows/s':>12} {'CPU ms/workflow':>16} {'(server + db)':>16}  runs")
    for r in results:
        split = f"{r['server_cpu_ms_per_workflow']:.2f} + {r['database_cpu_ms_per_workflow']:.2f}"
        print(f"{r['backend']:<12} {r['workflows_per_s']:>12,.1f} {r['cpu_ms_per_workflow']:>16.2f}"
              f" {split:>16}  {r['runs']} / {r['cpu_runs']} ms")
    load = os.getloadavg()[0]
    print(f"{args.clients} clients, {STEPS} steps, {args.seconds:g} s measured after "
          f"{args.warmup:g} s; load average {load:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "clients": args.clients,
                                         "loadavg": load, "cpus": os.cpu_count()}, indent=2))


if __name__ == "__main__":
    main()
