"""Client benchmark (CPython part): how fast a change shows, and how fast it is confirmed.

    python bench/client.py            # full run (a few seconds)
    python bench/client.py --quick    # tiny sizes, same code paths (the smoke test runs it)

Against a real local server (subprocess, temporary SQLite file, synchronous=FULL), one
`statesync.Client` with the machine definitions (optimistic) editing user settings:
  optimistic:  send() -> the new state visible to a subscriber (in the same call);
  ack:         send() -> the server's ack (durably committed);
  confirmed:   send() -> the update carrying that seq (read-your-writes);
  burst:       N sends without waiting, until all are confirmed (rebase cost included).
The browser (Pyodide) part reuses `measure_latency` / `measure_burst` from the page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from statesync import Client, Instance

from statesync_server import App

app = App()  # served for the benchmark: only the built-in settings machine


def summary(samples_ms: list[float]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds."""
    ordered = sorted(samples_ms)
    return {"p50": statistics.median(ordered),
            "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
            "max": ordered[-1]}


async def measure_latency(handle: Instance, count: int) -> dict[str, dict[str, float]]:
    """One event at a time: send -> optimistic state, -> ack, -> confirmed update."""
    optimistic, ack, confirmed = [], [], []
    for n in range(count):
        shown: list[float] = []
        unsubscribe = handle.subscribe(
            lambda _state, shown=shown: shown.append(time.perf_counter()))
        start = time.perf_counter()
        future = handle.send({"type": "SET", "key": "n", "value": n})
        assert handle.state.context["values"]["n"] == n
        seq = await future
        acked = time.perf_counter()
        while handle.pending:
            await asyncio.sleep(0)
        done = time.perf_counter()
        unsubscribe()
        assert handle.state.seq >= seq
        optimistic.append((shown[0] - start) * 1e3)
        ack.append((acked - start) * 1e3)
        confirmed.append((done - start) * 1e3)
    return {"optimistic_ms": summary(optimistic), "ack_ms": summary(ack),
            "confirmed_ms": summary(confirmed)}


async def measure_burst(handle: Instance, count: int) -> dict[str, Any]:
    """`count` sends without waiting: per-send cost, then time until all are confirmed."""
    sends = []
    start = time.perf_counter()
    futures = []
    for n in range(count):
        before = time.perf_counter()
        futures.append(handle.send({"type": "SET", "key": f"k{n % 20}", "value": n}))
        sends.append((time.perf_counter() - before) * 1e3)
    await asyncio.gather(*futures)
    while handle.pending:
        await asyncio.sleep(0.001)
    seconds = time.perf_counter() - start
    return {"events": count, "seconds": seconds, "events_per_s": count / seconds,
            "send_ms": summary(sends)}


async def run(url: str, token: str, count: int) -> dict[str, Any]:
    """Measure against the server at `url` with a client authenticated by `token`."""
    async with Client(url, token=token) as client:
        handle = (await client.settings("bench")).instance
        await measure_latency(handle, min(count, 20))  # warm up
        return {"latency": await measure_latency(handle, count),
                "burst": await measure_burst(handle, count * 5)}


def report(results: dict[str, Any]) -> None:
    latency = results["latency"]
    for label, key in (("optimistic (send -> visible)", "optimistic_ms"),
                       ("send -> ack (committed)", "ack_ms"),
                       ("send -> confirmed update", "confirmed_ms")):
        figures = latency[key]
        print(f"{label:32} p50 {figures['p50']:8.3f} ms   p99 {figures['p99']:8.3f} ms"
              f"   max {figures['max']:8.3f} ms")
    burst = results["burst"]
    print(f"{'burst of ' + str(burst['events']) + ' sends':32} all confirmed in "
          f"{burst['seconds'] * 1e3:.0f} ms ({burst['events_per_s']:.0f} events/s), "
          f"send() p50 {burst['send_ms']['p50']:.3f} ms p99 {burst['send_ms']['p99']:.3f} ms")
    print("Target: optimistic update < 5 ms (browser); here CPython.")


def main() -> None:
    from statesync_server.testing import ServerProcess

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    count = 20 if args.quick else 500
    with tempfile.TemporaryDirectory() as directory:
        server = ServerProcess(f"{Path(__file__).resolve()}:app", Path(directory) / "bench.db")
        server.start()
        try:
            results = asyncio.run(run(server.url, server.mint("bench"), count))
        finally:
            server.stop()
    results["python"] = sys.version.split()[0]
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
