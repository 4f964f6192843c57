"""statesync against live-sync peers (y-websocket + LevelDB, Hocuspocus + SQLite), one driver.

    (cd bench/peers && npm ci)      # once: the peers and the driver's clients, pinned
    python bench/peers.py           # 3 interleaved repeats (about 3 minutes)
    python bench/peers.py --quick   # seconds, same code paths
    python bench/peers.py --burners 2   # the same beside two CPU-burning processes
    python bench/peers.py --json FILE

Each repeat starts every server afresh on 127.0.0.1 (a free port, its own data directory) and
runs bench/peers/driver.mjs against it, the servers in a rotating order. The driver (Node, one
process) measures per server: saturated updates/s, send -> another subscriber's copy p50 / p99
at a paced rate, the server process's CPU per update at that rate (/proc/<pid>/stat), and its
RSS growth per idle connection. The table shows the median of the repeats and the ratio
statesync / peer. What an update's confirmation means differs (see driver.mjs): statesync acks
after its SQLite commit (synchronous=FULL); the peers broadcast first and persist afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from server import SECRET, Burners, Process, statesync_server

PEERS = Path(__file__).resolve().parent / "peers"
SERVERS = ("statesync", "y-websocket", "hocuspocus")
LABELS = {
    "statesync": "statesync",
    "y-websocket": "y-websocket + LevelDB",
    "hocuspocus": "Hocuspocus + SQLite",
}
# The packages the driver and the servers import (bench/peers/package.json pins them).
REQUIRED_MODULES = ("@y/websocket-server", "y-leveldb", "@hocuspocus/server",
                    "@hocuspocus/extension-sqlite", "yjs", "ws", "better-sqlite3")


def missing_modules() -> list[str]:
    return [m for m in REQUIRED_MODULES if not (PEERS / "node_modules" / m).is_dir()]


def sqlite_commits(seconds: float, synchronous: str) -> dict[str, float]:
    """A bare SQLite WAL insert+commit loop, one row per transaction: how long a durable
    commit takes on this disk right now (the floor under statesync's ack)."""
    with tempfile.TemporaryDirectory(prefix="statesync-peers-sqlite-") as directory:
        db = sqlite3.connect(Path(directory) / "raw.db", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, payload TEXT)")
        times: list[float] = []
        end = time.perf_counter() + seconds
        while (began := time.perf_counter()) < end:
            db.execute("BEGIN")
            db.execute("INSERT INTO log (payload) VALUES (?)", ('{"type": "INC"}',))
            db.execute("COMMIT")
            times.append(1000 * (time.perf_counter() - began))
        db.close()
    times.sort()
    return {"commits_per_s": len(times) / seconds, "p50_ms": times[len(times) // 2],
            "p99_ms": times[min(len(times) - 1, len(times) * 99 // 100)]}


def start(server: str, directory: Path, synchronous: str) -> Process:
    if server == "statesync":
        return statesync_server(directory / "statesync.db", synchronous)
    place = directory / ("leveldb" if server == "y-websocket" else "hocuspocus.db")
    return Process(["node", str(PEERS / "servers.mjs"), server, str(place)])


def drive(server: str, process: Process, sizes: dict[str, Any]) -> dict[str, Any]:
    url = process.ws_url if server == "statesync" else process.ws_url.rstrip("/")
    config = {"protocol": server, "url": url, "pid": process.proc.pid, "secret": SECRET,
              "clockTicks": os.sysconf("SC_CLK_TCK"), **sizes}
    done = subprocess.run(["node", str(PEERS / "driver.mjs"), json.dumps(config)],
                          capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"driver failed against {server}:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(servers: tuple[str, ...], repeats: int, sizes: dict[str, Any],
        synchronous: str) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {server: [] for server in servers}
    load = [os.getloadavg()[0]]
    commits = []
    for repeat in range(repeats):
        commits.append(sqlite_commits(sizes["seconds"] / 5, synchronous))
        order = servers[repeat % len(servers):] + servers[:repeat % len(servers)]
        for server in order:
            directory = Path(tempfile.mkdtemp(prefix=f"statesync-peers-{server}-"))
            process = start(server, directory, synchronous)
            try:
                result = drive(server, process, sizes)
            finally:
                process.stop()
                shutil.rmtree(directory, ignore_errors=True)
            runs[server].append(result)
            print(f"repeat {repeat + 1}/{repeats} {server}: "
                  f"{result['saturated']['updates_per_s']:.0f} updates/s saturated, paced p50 "
                  f"{result['paced']['p50_ms']:.2f} ms, "
                  f"{result['paced']['server_cpu_us_per_update']:.0f} us CPU/update",
                  file=sys.stderr, flush=True)
        load.append(os.getloadavg()[0])
    return {"sizes": sizes, "synchronous": synchronous, "load_average_1min": load,
            "sqlite_commits": commits, "runs": runs,
            "median": {server: medians(results) for server, results in runs.items()}}


def medians(results: list[dict[str, Any]]) -> dict[str, float]:
    def median(phase: str, key: str) -> float:
        return statistics.median(r[phase][key] for r in results)

    return {
        "saturated_updates_per_s": median("saturated", "updates_per_s"),
        "paced_updates_per_s": median("paced", "updates_per_s"),
        "paced_p50_ms": median("paced", "p50_ms"),
        "paced_p99_ms": median("paced", "p99_ms"),
        "paced_done_p50_ms": median("paced", "done_p50_ms"),
        "paced_cpu_us_per_update": median("paced", "server_cpu_us_per_update"),
        "saturated_cpu_us_per_update": median("saturated", "server_cpu_us_per_update"),
        "paced_driver_cpu_us_per_update": median("paced", "driver_cpu_us_per_update"),
        "saturated_driver_cpu_us_per_update": median("saturated", "driver_cpu_us_per_update"),
        "kb_per_idle_connection": median("idle", "kb_per_connection"),
        "lost": sum(r[phase]["lost"] for r in results for phase in ("saturated", "paced")),
        "rejects": sum(r[phase]["rejects"] for r in results for phase in ("saturated", "paced")),
    }


ROWS = (
    ("saturated updates/s", "saturated_updates_per_s", "{:,.0f}"),
    ("paced: updates/s reached", "paced_updates_per_s", "{:,.0f}"),
    ("paced: send -> other subscriber p50 ms", "paced_p50_ms", "{:.2f}"),
    ("paced: send -> other subscriber p99 ms", "paced_p99_ms", "{:.1f}"),
    ("paced: send -> done p50 ms (statesync: ack)", "paced_done_p50_ms", "{:.2f}"),
    ("paced: server CPU per update us", "paced_cpu_us_per_update", "{:,.0f}"),
    ("saturated: server CPU per update us", "saturated_cpu_us_per_update", "{:,.0f}"),
    ("paced: the driver's CPU per update us", "paced_driver_cpu_us_per_update", "{:,.0f}"),
    ("saturated: the driver's CPU per update us", "saturated_driver_cpu_us_per_update",
     "{:,.0f}"),
    ("KB per idle connection", "kb_per_idle_connection", "{:.1f}"),
    ("updates not seen by the observer", "lost", "{:.0f}"),
)


def report(results: dict[str, Any]) -> None:
    sizes, median = results["sizes"], results["median"]
    load = results["load_average_1min"]
    print(f"{sizes['clients']} writer connections (window {sizes['window']}) + 1 observer; "
          f"saturated {sizes['seconds']:g} s, paced {sizes['rate']:g}/s for "
          f"{sizes['pacedSeconds']:g} s; {sizes['idleConnections']} idle connections; "
          f"median of {len(next(iter(results['runs'].values())))} interleaved repeats; "
          f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores, "
          f"{results['burners']} CPU burners running")
    commits = results["sqlite_commits"]
    print(f"a bare SQLite WAL commit (synchronous={results['synchronous']}) meanwhile: "
          f"{statistics.median(c['commits_per_s'] for c in commits):,.0f}/s, p50 "
          f"{statistics.median(c['p50_ms'] for c in commits):.2f} ms, p99 "
          f"{statistics.median(c['p99_ms'] for c in commits):.2f} ms (median of the repeats)")
    print("ratio = statesync / peer (for updates/s higher is better, for the rest lower)")
    servers = list(results["runs"])
    widths = (44, *(26 for _ in servers))
    print("".join(h.ljust(w) for h, w in zip(["measure", *(LABELS[s] for s in servers)], widths)))
    for title, key, style in ROWS:
        ours = median.get("statesync", {}).get(key)
        cells = [title]
        for server in servers:
            theirs = median[server][key]
            ratio = ""
            if server != "statesync" and ours is not None and theirs and key != "lost":
                ratio = f" ({ours / theirs:.2f}x)"
            cells.append(style.format(theirs) + ratio)
        print("".join(c.ljust(w) for c, w in zip(cells, widths)))
    print(f"done = statesync: its ack, after the SQLite commit "
          f"(synchronous={results['synchronous']}); "
          "y-websocket and Hocuspocus: the observer's copy (they do not acknowledge; "
          "they broadcast, then persist: LevelDB per update unsynced / SQLite after a 2 s "
          "debounce)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--servers", default=",".join(SERVERS),
                        help="which servers, comma-separated (default: all; statesync first)")
    parser.add_argument("--burners", type=int, default=0,
                        help="run this many CPU-burning processes throughout (a loaded machine)")
    parser.add_argument("--synchronous", choices=["FULL", "NORMAL"], default="FULL",
                        help="statesync's SQLite durability (NORMAL: no fsync per commit)")
    args = parser.parse_args()
    missing = missing_modules()
    if shutil.which("node") is None or missing:
        print(f"bench/peers.py needs Node.js and the pinned npm packages (missing: "
              f"{', '.join(missing) or 'node'}); install them with:\n"
              f"    (cd {PEERS.relative_to(Path.cwd()) if PEERS.is_relative_to(Path.cwd()) else PEERS}"
              f" && npm ci)", file=sys.stderr)
        sys.exit(2)
    sizes = dict(clients=20, window=16, seconds=5.0, rate=1000.0, pacedSeconds=10.0,
                 idleConnections=500)
    repeats = args.repeats
    if args.quick:
        sizes = dict(clients=3, window=4, seconds=0.5, rate=200.0, pacedSeconds=0.5,
                     idleConnections=20)
        repeats = 1
    started = time.time()
    burners = Burners(args.burners)
    try:
        results = run(tuple(args.servers.split(",")), repeats, sizes, args.synchronous)
    finally:
        burners.stop()
    results.update(seconds=time.time() - started, burners=args.burners)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
