"""A test app for the inspector: nested, parallel and history states, delays, guards, an
effect whose provider always fails (the unreachable outside world, mocked), and messages
between instances.

`job` (owned by its creator):
    queued --START--> running{ parallel: build{compiling -> linking}, checks{lint | test} }
    running --PAUSE--> paused --RESUME--> running.hist (deep history)
    queued --after 1h--> expired; running --FAIL [hasReason]--> failed -> notify effect,
    and a JOB_FAILED message to the `board` instance named after the owner.
`board`: counts the failures reported to it.
"""

from __future__ import annotations

from typing import Any

from statesync import Machine, assign, send_to
from statesync_server import Access, App, EffectCall, Retry


class ProviderDown(RuntimeError):
    """What the fake notification provider raises on every call."""


async def notify(call: EffectCall) -> None:
    raise ProviderDown(f"provider unavailable for {call.params['owner']}")


job = Machine(
    {
        "id": "job",
        "initial": "queued",
        "context": lambda input: {"owner": (input or {}).get("owner"), "reason": None,
                                  "secret": "s3cret", "steps": 0},
        "states": {
            "queued": {"on": {"START": "running"}, "after": {3600000: "expired"}},
            "running": {
                "type": "parallel",
                "on": {"PAUSE": "paused",
                       "FAIL": {"target": "failed", "guard": "hasReason", "actions": "keepReason"}},
                "states": {
                    "build": {
                        "initial": "compiling",
                        "states": {
                            "compiling": {"on": {"COMPILED": {"target": "linking",
                                                              "actions": "step"}}},
                            "linking": {"on": {"LINKED": "built"}},
                            "built": {"type": "final"},
                        },
                    },
                    "checks": {
                        "initial": "lint",
                        "states": {"lint": {"on": {"LINTED": "test"}},
                                   "test": {"tags": ["slow"]}},
                    },
                    "hist": {"type": "history", "history": "deep"},
                },
            },
            "paused": {"on": {"RESUME": "running.hist"}},
            "expired": {"type": "final"},
            "failed": {"tags": ["needs-attention"],
                       "entry": [{"type": "notify",
                                  "params": lambda ctx, ev: {"owner": ctx["owner"]}},
                                 "report"],
                       "on": {"RETRY": "queued"}},
        },
    },
    actions={"keepReason": assign({"reason": lambda ctx, ev: ev["reason"]}),
             "step": assign({"steps": lambda ctx, ev: ctx["steps"] + 1}),
             "report": send_to("board", lambda ctx, ev: ctx["owner"],
                               lambda ctx, ev: {"type": "JOB_FAILED", "reason": ctx["reason"]})},
    guards={"hasReason": lambda ctx, ev: bool(ev.get("reason"))},
)


board = Machine(
    {"id": "board", "initial": "open", "context": {"failures": 0},
     "states": {"open": {"on": {"JOB_FAILED": {"actions": "count"}}}}},
    actions={"count": assign({"failures": lambda ctx, ev: ctx["failures"] + 1})},
)


def _owner(access: Access) -> bool:
    return access.context.get("owner") == access.subject


def _public(context: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in context.items() if key != "secret"}


app = App(anonymous_sessions=True)
app.register(
    "job", job, allow_read=_owner, allow_write=_owner, public_context=_public,
    indexes={"owner": "owner"},
    effects={"notify": notify},
    retry=Retry(max_attempts=2, backoff=0.05, max_backoff=0.05, timeout=5.0),
)
app.register("board", board, allow_read=lambda access: access.instance == access.subject,
             allow_write=lambda access: access.origin == "instance" or access.creating)
