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
PostgreSQL is a throwaway cluster of the installed binaries (`statesync_server.testing.postgres`)
run durable (`PostgresServer(durable=True)`: fsync, full page writes and `synchronous_commit=on`,
PostgreSQL's defaults: every commit is flushed to disk, as SQLite's is here). `--fast-postgres`
adds the PostgreSQL rows again on a non-durable server (the tests' settings: no fsync, no
synchronous commit), printed beside the durable ones and labelled so.

Besides events/s and latencies, each saturated run reports what scale-out costs, which a 2-core
machine can measure honestly even where it cannot show the throughput of more cores: the CPU
seconds per 1,000 acknowledged events, summed over every server process and every PostgreSQL
process (the postmaster, its live backends and the ones that ended during the run), and
PostgreSQL's requests per event: the TCP data segments the server processes' connections sent
to PostgreSQL's port (sampled from `ss` every half second, so a connection's segments are
counted up to its last sample). Each round trip is at least one segment, but a pipelined batch
(psycopg's `executemany` in the writer) sends statements without waiting for each, so this
bounds the round trips from above; the transactions per event (`pg_stat_database`) are
printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
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

from statesync_server.testing.postgres import PostgresServer, query  # noqa: E402

SERVER_APP = str(Path(__file__).parent / "server.py") + ":app"


def serve(database_url: str) -> Process:
    return Process([sys.executable, "-m", "statesync_server", "serve", SERVER_APP,
                    "--port", "0", "--database-url", database_url, "--rate-limit", "0", "--create-rate", "0"])


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


_TICK = os.sysconf("SC_CLK_TCK")
HAVE_SS = shutil.which("ss") is not None
"""`ss` (iproute2) reads the connections' segment counts; without it they print as nan."""


def _stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def postgres_cpu_seconds(postgres: PostgresServer | None) -> float:
    """CPU time PostgreSQL has used: the postmaster's own and its ended children's (reaped:
    cutime, cstime), plus its live children's (backends, checkpointer, WAL writer...)."""
    if postgres is None or postgres.dir is None:
        return 0.0
    postmaster = int((postgres.dir / "data" / "postmaster.pid").read_text().split()[0])
    fields = _stat(postmaster)
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                child = _stat(int(entry))
            except OSError:
                continue  # ended meanwhile (its time is in the postmaster's cutime)
            if int(child[1]) == postmaster:
                ticks += int(child[11]) + int(child[12])
    return ticks / _TICK


class RoundTrips:
    """Data segments sent to PostgreSQL's port by the connections of this machine (each a
    request flushed by a client): sampled every half second per connection, so connections
    that close are counted up to their last sample."""

    def __init__(self, port: int | None) -> None:
        self.port = port
        self.seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def _sample(self) -> dict[str, int]:
        if self.port is None or not HAVE_SS:
            return {}
        out = subprocess.run(["ss", "-tinH", "state", "established", f"( dport = :{self.port} )"],
                             capture_output=True, text=True).stdout
        counts, key = {}, None
        for line in out.splitlines():
            if not line.startswith((" ", "\t")):
                key = " ".join(line.split()[:4])
            elif key is not None and (found := re.search(r"data_segs_out:(\d+)", line)):
                counts[key] = int(found.group(1))
        return counts

    async def __aenter__(self) -> RoundTrips:
        self.before = self._sample()

        async def poll() -> None:
            while True:
                self.seen.update(await asyncio.to_thread(self._sample))
                await asyncio.sleep(0.5)

        self._task = asyncio.create_task(poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.seen.update(self._sample())

    @property
    def count(self) -> int:
        return sum(n - self.before.get(key, 0) for key, n in self.seen.items())


def transactions(database: str | None) -> int:
    """Transactions committed or rolled back in `database` so far (PostgreSQL's statistics,
    which a backend reports within a second: read after the load's final wait)."""
    if database is None:
        return 0
    rows = query(database, "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                 "WHERE datname = current_database()")
    return int(rows[0][0])


async def measure(label: str, processes: list[Process], args: argparse.Namespace,
                  sticky: bool, postgres: PostgresServer | None = None,
                  database: str | None = None) -> dict[str, Any]:
    urls, tag = [p.ws_url for p in processes], label.replace(" ", "-") + ("-s" if sticky else "")
    paced, _ = await load(urls, args.clients, args.instances, args.seconds, args.window,
                          tag + "-paced", sticky, args.rate)
    cpu = sum(p.cpu_seconds() for p in processes)
    pg_cpu = postgres_cpu_seconds(postgres)
    xacts = transactions(database)
    async with RoundTrips(postgres.port if postgres else None) as trips:
        rec, elapsed = await load(urls, args.clients, args.instances, args.seconds, args.window,
                                  tag, sticky)
    cpu = sum(p.cpu_seconds() for p in processes) - cpu
    pg_cpu = postgres_cpu_seconds(postgres) - pg_cpu
    xacts = transactions(database) - xacts
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
        "cpu_s_per_1k_events": 1e3 * (cpu + pg_cpu) / acked if acked else float("nan"),
        "server_cpu_s_per_1k_events": 1e3 * cpu / acked if acked else float("nan"),
        "postgres_cpu_s_per_1k_events": 1e3 * pg_cpu / acked if acked else float("nan"),
        "pg_requests_per_event": (trips.count / acked if acked and postgres else 0.0)
        if HAVE_SS else float("nan"),
        "pg_transactions_per_event": xacts / acked if acked else 0.0,
        "paced_rejects": paced.rejects,
    }


async def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    results = []
    sqlite = serve(f"sqlite+aiosqlite:///{directory / 'scale.db'}")
    try:
        results.append(await measure("sqlite x1", [sqlite], args, False))
    finally:
        sqlite.stop()
    for durable in (True, False) if args.fast_postgres else (True,):
        postgres = PostgresServer(durable=durable).start()
        name = "postgresql" if durable else "pg no-fsync"
        try:
            for count in (1, 2, 3):
                url = postgres.create_database(f"scale{count}")
                processes = [serve(url) for _ in range(count)]
                try:
                    for sticky in (True, False) if count > 1 else (False,):
                        results.append(await measure(f"{name} x{count}", processes, args,
                                                     sticky, postgres, url))
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
    pg1 = next((r for r in results if r["label"] == "postgresql x1"), None)
    print(f"{'configuration':16} {'writes':7} {'events/s':>9} {'vs sqlite':>9} {'vs pg x1':>8} "
          f"{'ack p50':>8} {'ack p99':>8} {'upd p50':>8} {'upd p99':>8} "
          f"{'cpu s/1k':>8} {'(srv':>6} {'+ pg)':>6} {'pg req/ev':>9} {'xact/ev':>7} {'rejects':>7} "
          f"{'lost upd':>8} "
          f"| paced: {'ack p99':>8} {'upd p50':>8} {'upd p99':>8}")
    for r in results:
        writes = "sticky" if r["sticky"] else "shared"
        vs_pg = f"{r['events_per_s'] / pg1['events_per_s']:7.2f}x" if pg1 else f"{'':8}"
        print(f"{r['label']:16} {writes:7} {r['events_per_s']:9.0f} {r['events_per_s'] / base:8.2f}x "
              f"{vs_pg} {r['ack_p50_ms']:7.1f}  {r['ack_p99_ms']:7.1f}  {r['update_p50_ms']:7.1f}  "
              f"{r['update_p99_ms']:7.1f}  {r['cpu_s_per_1k_events']:8.2f} "
              f"{r['server_cpu_s_per_1k_events']:6.2f} {r['postgres_cpu_s_per_1k_events']:6.2f} "
              f"{r['pg_requests_per_event']:9.2f} {r['pg_transactions_per_event']:7.3f} "
              f"{r['rejects'] + r['paced_rejects']:7d} {r['updates_missing']:8d} |        "
              f"{r['paced_ack_p99_ms']:8.1f} {r['paced_update_p50_ms']:8.1f} "
              f"{r['paced_update_p99_ms']:8.1f}")
    print("(ms; 'cpu s/1k': CPU seconds per 1,000 acknowledged events of the saturated run, every "
          "server process plus PostgreSQL; 'pg req/ev': TCP data segments the server processes "
          "sent PostgreSQL per acknowledged event (its round trips, plus the statements of a "
          "pipeline); 'xact/ev': PostgreSQL transactions per acknowledged event; 'rejects': both runs; 'lost upd': acknowledged "
          "seqs the observer on the first process had not got 10 s after the load stopped; "
          "'postgresql': durable, 'pg no-fsync': fsync and synchronous_commit off)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--fast-postgres", action="store_true",
                        help="also run the PostgreSQL rows without fsync or synchronous commit")
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
