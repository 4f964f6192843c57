"""Scale-out benchmark: 1, 2 and 3 server processes on one PostgreSQL next to one process on
SQLite, same workload, same run (docs/deployment.md, docs/performance.md).

    python bench/scale.py            # full run (about a minute)
    python bench/scale.py --quick    # a few seconds, same code paths (the smoke test runs it)

Workload, for every configuration: `clients` WebSocket connections spread round-robin over the
processes send INC events (at most `window` unacknowledged each) to `instances` counter
instances picked at random. `shared`: every instance is written through every process (the
worst case for the cluster: each process's cached copy goes stale and its commits conflict);
`sticky`: each instance through one process (a load balancer with affinity). An
observer subscribed to every instance on the first process records when each update arrives,
so send->update includes the cross-process fan-out (NOTIFY, then a read of the log). Each
configuration runs saturated (events/s) and paced at a fixed total rate (latency).
PostgreSQL is a throwaway cluster of the installed binaries (`statesync_server.testing_postgres`)
with its default durability (`synchronous_commit=on`: every commit is flushed to disk).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from server import (  # noqa: E402 - the single-process benchmark's clients and processes
    Process,
    Recorder,
    connect,
    observer,
    percentile,
    request,
    sender,
)

from statesync_server.testing_postgres import PostgresServer  # noqa: E402

SERVER_APP = str(Path(__file__).parent / "server.py") + ":app"


def serve(database_url: str) -> Process:
    return Process([sys.executable, "-m", "statesync_server", "serve", SERVER_APP,
                    "--port", "0", "--database-url", database_url, "--rate-limit", "0"])


async def load(urls: list[str], clients: int, instances: int, seconds: float,
               window: int, tag: str, sticky: bool,
               rate: float | None = None) -> tuple[Recorder, float]:
    """Drive the processes at `urls` together; the recorder and the measured duration.
    `sticky`: each instance is written through one process only (as behind a load balancer
    with affinity); otherwise through all of them."""
    names = [f"{tag}-{i}" for i in range(instances)]
    setup = await connect(urls[0], "setup")
    for name in names:
        await request(setup, {"type": "create", "machine": "counter", "instance": name,
                              "if_exists": "get"})
    watch = await connect(urls[0], "observer")
    for name in names:
        await request(watch, {"type": "subscribe", "machine": "counter", "instance": name})
        await watch.recv()  # the current state
    rec = Recorder()
    watching = asyncio.create_task(observer(watch, rec))
    sockets = [await connect(urls[i % len(urls)], f"user{i}") for i in range(clients)]
    stop = asyncio.Event()
    interval = clients / rate if rate else None
    start = time.perf_counter()
    def targets(i: int) -> list[str]:
        if not sticky:
            return names
        return [n for k, n in enumerate(names) if k % len(urls) == i % len(urls)]

    tasks = [asyncio.create_task(sender(ws, rec, targets(i), window, stop, interval,
                                        (interval or 0) * i / clients, f"{tag}{i}"))
             for i, ws in enumerate(sockets)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    deadline = time.perf_counter() + 10  # the last cross-process updates (bounded)
    while time.perf_counter() < deadline and any(k not in rec.updated for k in rec.seq_of):
        await asyncio.sleep(0.1)
    watching.cancel()
    for ws in [setup, watch, *sockets]:
        await ws.close()
    return rec, elapsed


async def measure(label: str, processes: list[Process], args: argparse.Namespace,
                  sticky: bool) -> dict[str, Any]:
    urls, tag = [p.ws_url for p in processes], label.replace(" ", "-") + ("-s" if sticky else "")
    paced, _ = await load(urls, args.clients, args.instances, args.seconds, args.window,
                          tag + "-paced", sticky, args.rate)
    cpu = sum(p.cpu_seconds() for p in processes)
    rec, elapsed = await load(urls, args.clients, args.instances, args.seconds, args.window,
                              tag, sticky)
    cpu = sum(p.cpu_seconds() for p in processes) - cpu
    acked = len(rec.acked)
    missing = sum(1 for key in rec.seq_of if key not in rec.updated)
    missing += sum(1 for key in paced.seq_of if key not in paced.updated)
    return {
        "paced_update_p50_ms": percentile(paced.update_latencies(), 50),
        "paced_update_p99_ms": percentile(paced.update_latencies(), 99),
        "paced_ack_p99_ms": percentile(paced.ack_latencies(), 99),
        "label": label, "sticky": sticky, "processes": len(processes),
        "events_per_s": acked / elapsed,
        "rejects": rec.rejects, "ack_p50_ms": percentile(rec.ack_latencies(), 50),
        "ack_p99_ms": percentile(rec.ack_latencies(), 99),
        "update_p50_ms": percentile(rec.update_latencies(), 50),
        "update_p99_ms": percentile(rec.update_latencies(), 99),
        "updates_missing": missing,
        "server_cpu_us_per_event": 1e6 * cpu / acked if acked else float("nan"),
    }


async def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    results = []
    sqlite = serve(f"sqlite+aiosqlite:///{directory / 'scale.db'}")
    try:
        results.append(await measure("sqlite x1", [sqlite], args, False))
    finally:
        sqlite.stop()
    postgres = PostgresServer().start()
    try:
        for count in (1, 2, 3):
            url = postgres.create_database(f"scale{count}")
            processes = [serve(url) for _ in range(count)]
            try:
                for sticky in (True, False) if count > 1 else (False,):
                    results.append(await measure(f"postgresql x{count}", processes, args, sticky))
            finally:
                for process in processes:
                    process.stop()
    finally:
        postgres.stop()
    return results


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    base = results[0]["events_per_s"]
    print(f"{args.clients} connections, {args.instances} instances, window {args.window}, "
          f"{args.seconds:g} s each; 'shared': every instance written through every process, "
          "'sticky': each through one")
    print(f"saturated (window {args.window}), then paced at {args.rate:g} events/s in total:")
    print(f"{'configuration':16} {'writes':7} {'events/s':>9} {'vs sqlite':>9} {'ack p50':>8} {'ack p99':>8} "
          f"{'upd p50':>8} {'upd p99':>8} {'cpu us/ev':>9} {'rejects':>7} {'lost upd':>8} "
          f"| paced: {'ack p99':>8} {'upd p50':>8} {'upd p99':>8}")
    for r in results:
        writes = "sticky" if r["sticky"] else "shared"
        print(f"{r['label']:16} {writes:7} {r['events_per_s']:9.0f} {r['events_per_s'] / base:8.2f}x "
              f"{r['ack_p50_ms']:7.1f}  {r['ack_p99_ms']:7.1f}  {r['update_p50_ms']:7.1f}  "
              f"{r['update_p99_ms']:7.1f}  {r['server_cpu_us_per_event']:9.0f} "
              f"{r['rejects']:7d} {r['updates_missing']:8d} |        {r['paced_ack_p99_ms']:8.1f} "
              f"{r['paced_update_p50_ms']:8.1f} {r['paced_update_p99_ms']:8.1f}")
    print("(ms; 'lost upd': acknowledged seqs the observer on the first process had not got "
          "10 s after the load stopped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    sizes = dict(seconds=6.0, clients=24, instances=100, window=8, rate=200.0)
    if args.quick:
        sizes = dict(seconds=0.5, clients=3, instances=5, window=2, rate=50.0)
    vars(args).update(sizes)
    with tempfile.TemporaryDirectory(prefix="statesync-scale-") as directory:
        results = asyncio.run(run(args, Path(directory)))
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
