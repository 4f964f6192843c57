"""The build's entities, each its own machine; they talk only through messages.

- `want`: a request for partitions (`{"partitions": ["report@2026-12-01"]}`); tells the
  orchestrator, then waits to be told `SATISFIED` or `FAILED`.
- `orchestrator` (one instance, `main`): tracks every partition, starts a job run when a
  partition's upstream is built, retries a failed run 30 s later (a new run), answers
  wants. Its decisions are pure functions (orchestration.py); the messages they call for are
  sent by `enqueue_actions` in the same transition.
- `partition`: one day of one asset, as the orchestrator reports it.
- `run`: one job run: invokes the `job` service (jobs.py) and reports back.
"""

from __future__ import annotations

from typing import Any

from orchestration import is_current_run, may_retry, new_orchestrator, retry, run_failed, run_succeeded, want
from statesync import Machine, Sender, and_, assign, create_instance, enqueue_actions, raise_, send_to

RETRY_DELAY_MS = 30_000
ORCHESTRATOR = "main"


def _status(name: str) -> dict[str, Any]:
    return {"type": "status", "params": {"status": name}}


_set_status = assign(lambda ctx, ev, params: {"status": params["status"]})


# --- want ------------------------------------------------------------------------------------


def new_want(input: Any, *, sender: Sender) -> dict[str, Any]:
    partitions = input.get("partitions") if isinstance(input, dict) else None
    return {"partitions": partitions if isinstance(partitions, list) else [],  # checked by the app
            "requester": sender.subject,
            "failed": None, "error": None}


want_machine = Machine(
    {
        "id": "want",
        "initial": "requested",
        "context": new_want,
        "states": {
            "requested": {
                "entry": ["startOrchestrator", "ask"],
                "on": {"SATISFIED": "satisfied",
                       "FAILED": {"target": "failed", "actions": "keepFailure"}},
            },
            "satisfied": {"type": "final"},
            "failed": {"type": "final"},
        },
    },
    actions={
        "startOrchestrator": create_instance("orchestrator", ORCHESTRATOR, {}),  # once: a no-op after
        "ask": send_to("orchestrator", ORCHESTRATOR,
                       lambda ctx, ev: {"type": "WANT", "partitions": ctx["partitions"]}),
        "keepFailure": assign(lambda ctx, ev: {"failed": ev["partition"], "error": ev["error"]}),
    },
)


# --- orchestrator ----------------------------------------------------------------------------

def _send_commands(ctx: dict[str, Any], ev: Any, enqueue: Any, check: Any) -> None:
    """The messages the last decision calls for, in order; then none are left."""
    for command in ctx["commands"]:
        name, payload = command["name"], command["payload"]
        if command["kind"] == "create_partition":
            enqueue.create_instance("partition", name, payload)
        elif command["kind"] == "create_run":
            enqueue.create_instance("run", name, payload)
        elif command["kind"] == "tell_partition":
            enqueue.send_to("partition", name, payload)
        else:
            enqueue.send_to("want", name, payload)
    enqueue.assign({"commands": []})


def _from_current_run(ctx: dict[str, Any], ev: dict[str, Any], *, sender: Sender) -> bool:
    """The report comes from the run the partition waits for (not a stale or a forged one)."""
    return (sender.instance is not None and sender.instance[0] == "run"
            and is_current_run(ctx, ev["partition"], sender.instance[1]))


orchestrator_machine = Machine(
    {
        "id": "orchestrator",
        "initial": "running",
        "context": new_orchestrator,
        "states": {
            "running": {
                "on": {
                    "WANT": {"actions": ["want", "send"]},
                    "RUN_SUCCEEDED": {"guard": "fromCurrentRun", "actions": ["runSucceeded", "send"]},
                    "RUN_FAILED": [
                        {"guard": and_(["fromCurrentRun", "mayRetry"]),
                         "actions": ["runFailed", "send", "retryLater"]},
                        {"guard": "fromCurrentRun", "actions": ["runFailed", "send"]},
                    ],
                    "RETRY": {"actions": ["retry", "send"]},
                },
            },
        },
    },
    actions={
        "want": assign(lambda ctx, ev, *, sender: want(ctx, sender.instance[1], ev["partitions"])),
        "runSucceeded": assign(lambda ctx, ev: run_succeeded(ctx, ev["partition"], ev["rows"])),
        "runFailed": assign(lambda ctx, ev: run_failed(ctx, ev["partition"], ev["error"])),
        "retryLater": raise_(lambda ctx, ev: {"type": "RETRY", "partition": ev["partition"]},
                             delay="retryDelay"),
        "retry": assign(lambda ctx, ev: retry(ctx, ev["partition"])),
        "send": enqueue_actions(_send_commands),
    },
    guards={
        "fromCurrentRun": _from_current_run,
        "mayRetry": lambda ctx, ev: may_retry(ctx, ev["partition"]),
    },
    delays={"retryDelay": RETRY_DELAY_MS},
)


# --- partition -------------------------------------------------------------------------------


def new_partition(input: Any) -> dict[str, Any]:
    input = input if isinstance(input, dict) else {}
    return {"asset": input.get("asset"), "date": input.get("date"), "status": "waiting", "run": None,
            "attempt": 0, "rows": None, "error": None}


partition_machine = Machine(
    {
        "id": "partition",
        "initial": "waiting",
        "context": new_partition,
        "on": {
            "BUILDING": {"target": ".building", "actions": "keepRun"},
            "RETRYING": {"target": ".retrying", "actions": "keepError"},
            "FAILED": {"target": ".failed", "actions": "keepError"},
            "BLOCKED": ".blocked",
            "BUILT": {"target": ".built", "actions": "keepRows"},
        },
        "states": {name: {"entry": _status(name)} for name in
                   ("waiting", "building", "retrying", "built", "failed", "blocked")},
    },
    actions={
        "status": _set_status,
        "keepRun": assign(lambda ctx, ev: {"run": ev["run"], "attempt": ev["attempt"], "error": None}),
        "keepError": assign(lambda ctx, ev: {"error": ev["error"]}),
        "keepRows": assign(lambda ctx, ev: {"rows": ev["rows"], "error": None}),
    },
)


# --- run -------------------------------------------------------------------------------------


def new_run(input: Any) -> dict[str, Any]:
    input = input if isinstance(input, dict) else {}
    return {"partition": input.get("partition"), "attempt": input.get("attempt"), "status": "running",
            "rows": None, "error": None}


run_machine = Machine(
    {
        "id": "run",
        "initial": "running",
        "context": new_run,
        "states": {
            "running": {
                "invoke": {
                    "id": "job",
                    "src": "job",
                    "input": lambda ctx, ev: {"partition": ctx["partition"], "attempt": ctx["attempt"]},
                    "onDone": {"target": "succeeded", "actions": "keepRows"},
                    "onError": {"target": "failed", "actions": "keepError"},
                },
            },
            "succeeded": {"type": "final", "entry": [_status("succeeded"), "reportSuccess"]},
            "failed": {"type": "final", "entry": [_status("failed"), "reportFailure"]},
        },
    },
    actions={
        "status": _set_status,
        "keepRows": assign(lambda ctx, ev: {"rows": ev["output"]["rows"]}),
        "keepError": assign(lambda ctx, ev: {"error": ev["error"]["message"]}),
        "reportSuccess": send_to("orchestrator", ORCHESTRATOR, lambda ctx, ev: {
            "type": "RUN_SUCCEEDED", "partition": ctx["partition"], "rows": ctx["rows"]}),
        "reportFailure": send_to("orchestrator", ORCHESTRATOR, lambda ctx, ev: {
            "type": "RUN_FAILED", "partition": ctx["partition"], "error": ctx["error"]}),
    },
)
