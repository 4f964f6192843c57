"""The jobs that build partitions, against a stand-in warehouse: JSON files in a directory.

`<data>/landing/<source>/<date>.json` is where other systems drop the sources (a list of
page views `{"user", "page"}` for `events`, of users `{"id", "name"}` for `users`); a source's
job is a sensor that waits for its file. Built partitions are `<data>/warehouse/<asset>/<date>.json`,
written whole (a new file renamed into place), so running a job twice (at least once, after
a crash) gives the same result. Every start of a job is appended to `<data>/audit.jsonl`.

A run may take an hour (`JOB_TIMEOUT_S`, a sensor's wait included); then it fails.
Settings (environment): BUILD_DATA_DIR (default ./build-data); BUILD_FLAKY, e.g.
`sessions@2026-12-01=1`: the warehouse drops the connection on that many first attempts of
a partition (to watch retries).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from graph import split

from statesync_server import EffectCall

DATA = Path(os.environ.get("BUILD_DATA_DIR", "build-data"))
JOB_TIMEOUT_S = 3600.0
SENSOR_POLL_S = 1.0
FLAKY = {name: int(count) for name, _, count in
         (item.partition("=") for item in os.environ.get("BUILD_FLAKY", "").split(",") if item)}


def _read(path: Path) -> Any:
    return json.loads(path.read_text())


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_suffix(f".{os.getpid()}.tmp")
    fresh.write_text(json.dumps(value, indent=1, sort_keys=True))
    fresh.replace(path)


def _audit(line: dict[str, Any]) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    fd = os.open(DATA / "audit.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())  # one write: a crash never halves it
    finally:
        os.close(fd)


def warehouse(asset: str, date: str) -> Path:
    return DATA / "warehouse" / asset / f"{date}.json"


async def _landed(source: str, date: str, sleep: Callable[[float], Awaitable[None]]) -> Any:
    """The sensor: look for the source's file for `date` every second (on the server's
    clock) until it has landed."""
    path = DATA / "landing" / source / f"{date}.json"
    while not path.exists():
        await sleep(SENSOR_POLL_S)
    return await asyncio.to_thread(_read, path)


async def _source(asset: str, date: str, sleep: Callable[[float], Awaitable[None]]) -> list[Any]:
    rows = await _landed(asset, date, sleep)
    await asyncio.to_thread(_write, warehouse(asset, date), rows)
    return rows


async def _sessions(date: str) -> dict[str, int]:
    events = await asyncio.to_thread(_read, warehouse("events", date))
    views = dict(sorted(Counter(e["user"] for e in events).items()))
    await asyncio.to_thread(_write, warehouse("sessions", date), views)
    return views


async def _report(date: str) -> list[dict[str, Any]]:
    views = await asyncio.to_thread(_read, warehouse("sessions", date))
    users = {u["id"]: u["name"] for u in await asyncio.to_thread(_read, warehouse("users", date))}
    report = sorted(({"name": users.get(user, user), "views": n} for user, n in views.items()),
                    key=lambda row: (-row["views"], row["name"]))
    await asyncio.to_thread(_write, warehouse("report", date), report)
    return report


async def run_job(call: EffectCall) -> dict[str, int]:
    """The `job` service of a run: build its partition; the output is the row count."""
    partition, attempt = call.input["partition"], call.input["attempt"]
    asset, date = split(partition)
    await asyncio.to_thread(_audit, {"partition": partition, "attempt": attempt,
                                     "key": call.idempotency_key, "pid": os.getpid()})
    if attempt <= FLAKY.get(partition, 0):
        raise ConnectionError(f"warehouse connection reset (attempt {attempt})")
    if asset in ("events", "users"):
        built: Any = await _source(asset, date, call.sleep)
    elif asset == "sessions":
        built = await _sessions(date)
    else:
        built = await _report(date)
    return {"rows": len(built)}
