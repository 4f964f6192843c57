"""The orchestrator's decisions, as pure functions of its context.

The context: `partitions` (name -> status, attempts, current run, last error), `wants`
(want name -> the partitions it needs, while it waits) and `commands`: the messages the
decision calls for (create a partition or a run, tell a partition or a want), which the
orchestrator machine sends and clears in the same transition (`enqueue_actions`, machines.py).
"""

from __future__ import annotations

from typing import Any

from graph import closure, split, upstream

MAX_ATTEMPTS = 3
"""Runs of one partition before it is `failed` (and what is built from it `blocked`)."""


def new_orchestrator(input: Any = None) -> dict[str, Any]:
    return {"partitions": {}, "wants": {}, "commands": []}


def _command(kind: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "name": name, "payload": payload}


def want(ctx: dict[str, Any], want_name: str, targets: list[str]) -> dict[str, Any]:
    """A want asks for `targets`: track every partition they need, start what can start."""
    partitions, commands = dict(ctx["partitions"]), []
    needed = closure(targets)
    for partition in needed:
        entry = partitions.get(partition)
        if entry is None:
            asset, date = split(partition)
            partitions[partition] = {"status": "waiting", "attempts": 0, "run": None, "error": None}
            commands.append(_command("create_partition", partition, {"asset": asset, "date": date}))
        elif entry["status"] in ("failed", "blocked"):  # asked for again: another chance
            partitions[partition] = {**entry, "status": "waiting", "attempts": 0, "error": None}
    wants = {**ctx["wants"], want_name: needed}
    return schedule({**ctx, "partitions": partitions, "wants": wants}, commands)


def is_current_run(ctx: dict[str, Any], partition: str, run: str) -> bool:
    """Whether `run` is the run the orchestrator is waiting for (a stale report is not)."""
    entry = ctx["partitions"].get(partition)
    return entry is not None and entry["status"] == "building" and entry["run"] == run


def may_retry(ctx: dict[str, Any], partition: str) -> bool:
    return ctx["partitions"][partition]["attempts"] < MAX_ATTEMPTS


def run_succeeded(ctx: dict[str, Any], partition: str, rows: int) -> dict[str, Any]:
    entry = ctx["partitions"][partition]
    partitions = {**ctx["partitions"], partition: {**entry, "status": "built", "error": None}}
    told = _command("tell_partition", partition, {"type": "BUILT", "run": entry["run"], "rows": rows})
    return schedule({**ctx, "partitions": partitions}, [told])


def run_failed(ctx: dict[str, Any], partition: str, error: str) -> dict[str, Any]:
    """A failed run: retried later (`RETRY`) while attempts are left, else the partition fails."""
    entry = ctx["partitions"][partition]
    status = "retrying" if may_retry(ctx, partition) else "failed"
    partitions = {**ctx["partitions"], partition: {**entry, "status": status, "error": error}}
    event = {"type": "RETRYING" if status == "retrying" else "FAILED", "error": error,
             "run": entry["run"]}
    return schedule({**ctx, "partitions": partitions}, [_command("tell_partition", partition, event)])


def retry(ctx: dict[str, Any], partition: str) -> dict[str, Any]:
    entry = ctx["partitions"][partition]
    if entry["status"] != "retrying":
        return ctx
    partitions = {**ctx["partitions"], partition: {**entry, "status": "waiting"}}
    return schedule({**ctx, "partitions": partitions}, [])


def schedule(ctx: dict[str, Any], commands: list[dict[str, Any]]) -> dict[str, Any]:
    """Start every waiting partition whose upstream is built, block those whose upstream
    failed, and answer the wants that are complete."""
    partitions = dict(ctx["partitions"])
    for partition in closure(sorted(partitions)):  # upstream first: blocking propagates
        entry = partitions[partition]
        if entry["status"] != "waiting":
            continue
        deps = [partitions[dep]["status"] for dep in upstream(partition)]
        if any(status in ("failed", "blocked") for status in deps):
            partitions[partition] = {**entry, "status": "blocked"}
            commands.append(_command("tell_partition", partition, {"type": "BLOCKED"}))
        elif all(status == "built" for status in deps):
            attempt = entry["attempts"] + 1
            run = f"{partition}~{attempt}"
            partitions[partition] = {**entry, "status": "building", "attempts": attempt, "run": run}
            commands.append(_command("create_run", run, {"partition": partition, "attempt": attempt}))
            commands.append(_command("tell_partition", partition,
                                     {"type": "BUILDING", "run": run, "attempt": attempt}))
    wants = {}
    for name, needed in ctx["wants"].items():
        failed = [p for p in needed if partitions[p]["status"] == "failed"]
        if failed or any(partitions[p]["status"] == "blocked" for p in needed):
            first = failed[0] if failed else next(
                p for p in needed if partitions[p]["status"] == "blocked")
            commands.append(_command("tell_want", name, {
                "type": "FAILED", "partition": first, "error": partitions[first]["error"]}))
        elif all(partitions[p]["status"] == "built" for p in needed):
            commands.append(_command("tell_want", name, {"type": "SATISFIED"}))
        else:
            wants[name] = needed
    return {**ctx, "partitions": partitions, "wants": wants,
            "commands": [*ctx["commands"], *commands]}
