"""Index query latency on a real SQLite file with many instances.

    python bench/indexes.py               # 100,000 instances (about a minute)
    python bench/indexes.py --quick       # 5,000 instances, a few seconds

Measured in one run, in-process (the server's own `run_query`, `allow_read` filter included,
no network): the bulk load through the store (big transactions), the back-fill of a new index,
p50/p99 latency of one page for each operator and direction, a page deep into the results via
the cursor, the bare SQL of the same page (sqlite3) for comparison, and the cost of keeping
indexes on writes (events/s through the engine with and without four indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from statesync import Machine, assign
from statesync_server import App, Engine, Op, Store
from statesync_server.engine.indexes import Query, build_select, instance_keys, run_query
from statesync_server.store import InstanceWrite

INDEXES = {"n": "n", "label": "label", "tags": "tags", "flag": "flag"}
PREFIXES = ["alpha", "beta", "gamma", "delta", "émile", "日本", "Zed", "a"]
CLAIMS = {"sub": "alice"}


def machine() -> Machine:
    return Machine(
        {"id": "item", "initial": "open", "context": lambda input: dict(input or {}),
         "states": {"open": {"on": {"SET": {"actions": "set"}}}}},
        actions={"set": assign(lambda ctx, ev: ev["values"])},
    )


def build_app(indexes: dict[str, str]) -> App:
    app = App()
    app.register("item", machine(), indexes=indexes,
                 allow_read=lambda a: a.subject == a.context.get("owner"),
                 public_context=lambda ctx: {"n": ctx.get("n"), "label": ctx.get("label")})
    return app


def contexts(count: int) -> dict[str, dict[str, Any]]:
    rng = random.Random(5)
    return {
        f"i{i:07d}": {
            "owner": "alice" if i % 3 else "bob",
            "label": f"{rng.choice(PREFIXES)}-{rng.randrange(10_000):04d}",
            "tags": rng.sample(["red", "green", "blue", "x"], rng.randrange(4)),
            "flag": i % 2 == 0,
            "n": rng.randrange(-500, 500),
        }
        for i in range(count)
    }


async def load(url: str, data: dict[str, dict[str, Any]]) -> float:
    engine = Engine(build_app(INDEXES), Store(url))
    await engine.start()
    template = machine().initial_transition({})[0].to_dict()
    names = list(data)
    started = time.perf_counter()
    for start in range(0, len(names), 10_000):
        await engine.store.commit([
            InstanceWrite("item", n, "1", {**template, "context": data[n]}, 0, "active", True, [],
                          indexes=instance_keys(INDEXES, data[n]))
            for n in names[start:start + 10_000]
        ])
    elapsed = time.perf_counter() - started
    await engine.stop()
    return elapsed


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def timed(repeats: int, fn: Any) -> tuple[float, float]:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


QUERIES = [
    ("eq n=17 (1 in 1000 match)", Query("item", "n", "eq", 17, "asc", 50)),
    ("lt n<-250, first 50 asc", Query("item", "n", "lt", -250, "asc", 50)),
    ("gte n>=250, first 50 desc", Query("item", "n", "gte", 250, "desc", 50)),
    ("ne n!=0, first 50", Query("item", "n", "ne", 0, "asc", 50)),
    ("prefix label 'beta-01', 50", Query("item", "label", "prefix", "beta-01", "asc", 50)),
    ("eq tags='x' (list), 50", Query("item", "tags", "eq", "x", "asc", 50)),
    ("eq flag=true, 200", Query("item", "flag", "eq", True, "asc", 200)),
]


async def query_latency(url: str, db: Path, repeats: int) -> list[dict[str, Any]]:
    app = build_app(INDEXES)
    store = Store(url)
    await store.open()
    rows = []
    try:
        conn = sqlite3.connect(db)
        for label, query in QUERIES:
            items, cursor = await run_query(app, store, CLAIMS, query)
            p50, p99 = await timed(repeats, lambda q=query: run_query(app, store, CLAIMS, q))
            sql = str(build_select(query, None, query.limit).compile(
                dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}))
            raw = []
            for _ in range(repeats):
                started = time.perf_counter()
                conn.execute(sql).fetchall()
                raw.append((time.perf_counter() - started) * 1000)
            rows.append({"query": label, "results": len(items), "p50_ms": p50, "p99_ms": p99,
                         "sql_p50_ms": statistics.median(raw)})
        # Twenty pages in: the cursor makes it one index seek, not an OFFSET scan.
        query = Query("item", "n", "gte", -500, "asc", 50)
        cursor = None
        for _ in range(20):
            _items, cursor = await run_query(app, store, CLAIMS, Query(
                query.machine, query.index, query.op, query.value, query.order, query.limit,
                cursor))
        deep = Query(query.machine, query.index, query.op, query.value, query.order, query.limit,
                     cursor)
        p50, p99 = await timed(repeats, lambda: run_query(app, store, CLAIMS, deep))
        rows.append({"query": "page 21 of n>=-500 via cursor", "results": 50, "p50_ms": p50,
                     "p99_ms": p99, "sql_p50_ms": None})
        conn.close()
    finally:
        await store.close()
    return rows


async def backfill_time(url: str) -> float:
    engine = Engine(build_app({**INDEXES, "owner": "owner"}), Store(url))
    started = time.perf_counter()
    await engine.start()  # back-fills the new index before serving
    elapsed = time.perf_counter() - started
    await engine.stop()
    return elapsed


async def write_rate(url: str, indexes: dict[str, str], names: list[str], events: int) -> float:
    engine = Engine(build_app(indexes), Store(url))
    await engine.start()
    rng = random.Random(3)
    ops = [Op("send", "item", rng.choice(names), CLAIMS, event_id=f"w{len(indexes)}-{i}-{time.monotonic_ns()}",
              event={"type": "SET", "values": {"n": rng.randrange(-500, 500),
                                               "label": f"w-{i}", "tags": ["red"]}})
           for i in range(events)]
    started = time.perf_counter()
    await asyncio.gather(*(engine.run(op) for op in ops))
    elapsed = time.perf_counter() - started
    await engine.stop()
    return events / elapsed


async def main_async(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    count = 5_000 if args.quick else args.instances
    repeats = 20 if args.quick else args.repeats
    db = directory / "indexes.db"
    url = f"sqlite+aiosqlite:///{db}"
    data = contexts(count)
    load_s = await load(url, data)
    queries = await query_latency(url, db, repeats)
    backfill_s = await backfill_time(url)
    names = list(data)[:2000]
    copy = directory / "plain.db"
    with sqlite3.connect(db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    events = 500 if args.quick else 3000
    rates: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(3):  # interleaved: load from other processes hits both alike
        rates["with"].append(await write_rate(url, {**INDEXES, "owner": "owner"}, names, events))
        rates["without"].append(await write_rate(f"sqlite+aiosqlite:///{copy}", {}, names, events))
    with_indexes, without = (statistics.median(rates[k]) for k in ("with", "without"))
    return {"instances": count, "load_s": load_s, "backfill_s": backfill_s, "queries": queries,
            "writes_per_s_with_indexes": with_indexes, "writes_per_s_without": without,
            "loadavg": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5,000 instances, for smoke tests")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        result = asyncio.run(main_async(args, Path(directory)))
    n = result["instances"]
    print(f"{n:,} instances; load through the store: {result['load_s']:.1f} s "
          f"({n / result['load_s']:,.0f} instances/s with 4 indexes)")
    print(f"back-fill of a new index over {n:,} instances: {result['backfill_s']:.2f} s")
    print()
    print(f"| {'query (allow_read filters 1/3 out)':<36} | results | p50 ms | p99 ms | bare SQL p50 ms |")
    print(f"|{'-' * 38}|--------:|-------:|-------:|----------------:|")
    for row in result["queries"]:
        sql = "-" if row["sql_p50_ms"] is None else f"{row['sql_p50_ms']:.2f}"
        print(f"| {row['query']:<36} | {row['results']:>7} | {row['p50_ms']:>6.2f} | "
              f"{row['p99_ms']:>6.2f} | {sql:>15} |")
    print()
    print(f"writes through the engine (median of 3, interleaved): "
          f"{result['writes_per_s_with_indexes']:,.0f} events/s with 5 indexes, "
          f"{result['writes_per_s_without']:,.0f} events/s without")
    print(f"load average during the run: {result['loadavg']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
