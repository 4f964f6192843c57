"""The workflow tests' app: timers, effects, services and messages between instances.

Every effect and service run appends one JSON line to the file named by $FLOWAPP_RECORD
(one `os.write` with O_APPEND, so a `kill -9` never leaves half a line), so tests in another
process can check what ran, how often, and with which idempotency key.
"""

from __future__ import annotations

import json
import os
import time
import zlib

from statesync import Machine, assign, cancel, create_instance, raise_, send_to
from statesync_server import App, Retry
from statesync_server import EffectCall

DELAY = int(os.environ.get("FLOWAPP_DELAY_MS", "200"))


def record(kind: str, call: EffectCall, **extra: object) -> None:
    path = os.environ.get("FLOWAPP_RECORD")
    if not path:
        return
    line = json.dumps({"kind": kind, "name": call.name, "key": call.idempotency_key,
                       "machine": call.machine, "instance": call.instance,
                       "attempt": call.attempt, "at": time.time(), **extra})
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


# --- timers ------------------------------------------------------------------------------------

reminder = Machine(
    {
        "id": "reminder",
        "initial": "idle",
        "context": {"fired": 0, "pings": 0},
        "states": {
            "idle": {"on": {"START": "waiting", "PING_LATER": {"actions": "pingLater"},
                            "UNPING": {"actions": "unping"}}},
            "waiting": {
                "after": {str(DELAY): {"target": "fired", "actions": "countFired"}},
                "on": {"STOP": "idle"},
            },
            "fired": {"on": {"START": "waiting"}},
        },
        "on": {"PING": {"actions": "countPing"}},
    },
    actions={
        "countFired": assign(lambda ctx, ev: {"fired": ctx["fired"] + 1}),
        "countPing": assign(lambda ctx, ev: {"pings": ctx["pings"] + 1}),
        "pingLater": raise_({"type": "PING"}, id="later", delay=DELAY),
        "unping": cancel("later"),
    },
)

# --- effects -----------------------------------------------------------------------------------

calls: dict[str, int] = {}


async def note(call: EffectCall) -> None:
    record("effect", call, params=call.params)


async def flaky(call: EffectCall) -> None:
    """Fails the first `params.failures` attempts."""
    record("effect", call, params=call.params)
    if call.attempt <= call.params.get("failures", 0):
        raise RuntimeError(f"flaky failure {call.attempt}")


async def sometimes(call: EffectCall) -> None:
    """Fails the first attempt of about a third of the keys (deterministically)."""
    record("effect", call, params=call.params)
    if call.attempt == 1 and zlib.crc32(call.idempotency_key.encode()) % 3 == 0:
        raise RuntimeError("first attempt fails")


async def provider(call: EffectCall) -> None:
    """Fails while the file named by $FLOWAPP_PROVIDER_DOWN exists (the outside world down)."""
    record("effect", call, params=call.params)
    down = os.environ.get("FLOWAPP_PROVIDER_DOWN")
    if down and os.path.exists(down):
        raise RuntimeError("provider down")


async def slow(call: EffectCall) -> None:
    record("effect", call, params=call.params)
    await call.sleep(call.params.get("seconds", 10))


notifier = Machine(
    {
        "id": "notifier",
        "initial": "ready",
        "context": {"sent": 0},
        "states": {
            "ready": {
                "on": {
                    "NOTE": {"actions": [{"type": "note", "params": lambda ctx, ev: {"text": ev.get("text")}},
                                         "countSent"]},
                    "FLAKY": {"actions": {"type": "flaky",
                                          "params": lambda ctx, ev: {"failures": ev["failures"]}}},
                    "SLOW": {"actions": {"type": "slow", "params": lambda ctx, ev: {"seconds": ev["seconds"]}}},
                    "CALL_PROVIDER": {"actions": "provider"},
                    "UNKNOWN_EFFECT": {"actions": "notImplemented"},
                }
            }
        },
    },
    actions={"countSent": assign(lambda ctx, ev: {"sent": ctx["sent"] + 1})},
)

# --- invoked services --------------------------------------------------------------------------


async def work(call: EffectCall) -> dict:
    record("service", call, input=call.input)
    seconds = (call.input or {}).get("seconds", 0.05)
    await call.sleep(seconds)
    if (call.input or {}).get("fail"):
        raise ValueError("work failed")
    return {"answer": (call.input or {}).get("x", 0) * 2}


job = Machine(
    {
        "id": "job",
        "initial": "running",
        "context": lambda input: {"input": input or {}, "result": None, "error": None},
        "states": {
            "running": {
                "invoke": {
                    "id": "worker",
                    "src": "work",
                    "input": lambda ctx, ev: ctx["input"],
                    "onDone": {"target": "done", "actions": "keepResult"},
                    "onError": {"target": "failed", "actions": "keepError"},
                },
                "on": {"CANCEL": "cancelled", "RESTART": {"target": "running", "reenter": True}},
            },
            "done": {"on": {"AGAIN": "running"}},
            "failed": {},
            "cancelled": {"on": {"RESUME": "running"}},
        },
    },
    actions={
        "keepResult": assign(lambda ctx, ev: {"result": ev["output"]}),
        "keepError": assign(lambda ctx, ev: {"error": ev["error"]}),
    },
)

# --- messages between instances ----------------------------------------------------------------

sender = Machine(
    {
        "id": "sender",
        "initial": "on",
        "context": lambda input: {"sink": (input or {}).get("sink", "sink"),
                                  "me": (input or {}).get("me", "?"), "n": 0},
        "states": {
            "on": {
                "on": {
                    "PING": {"actions": ["next", "tell"]},
                    "SPAWN": {"actions": "spawn"},
                }
            }
        },
    },
    actions={
        "next": assign(lambda ctx, ev: {"n": ctx["n"] + 1}),
        "tell": send_to("sink", lambda ctx, ev: ctx["sink"],
                        lambda ctx, ev: {"type": "MSG", "n": ctx["n"], "from": ctx["me"]}),
        "spawn": create_instance("sink", lambda ctx, ev: ev["name"],
                                 lambda ctx, ev: {"creator": "sender"}),
    },
)

sink = Machine(
    {
        "id": "sink",
        "initial": "open",
        "context": lambda input: {"got": {}, "creator": (input or {}).get("creator")},
        "states": {
            "open": {"on": {"MSG": {"actions": "keep"}, "CLOSE": "closed"}},
            "closed": {},
        },
    },
    actions={
        "keep": assign(lambda ctx, ev: {"got": {
            **ctx["got"], ev["from"]: [*ctx["got"].get(ev["from"], []), ev["n"]]}}),
    },
)


def sink_write(access) -> bool:
    """Clients may create and close sinks; only `sender` instances may send MSG."""
    if access.origin == "instance":
        return access.sender is not None and access.sender[0] in ("sender", "flow")
    return access.creating or (access.event or {}).get("type") == "CLOSE"


# --- the crash test's workload -----------------------------------------------------------------

flow = Machine(
    {
        "id": "flow",
        "initial": "on",
        "context": lambda input: {"n": 0, "ticks": [], "sink": (input or {}).get("sink", "crash-sink"),
                                  "me": (input or {}).get("me", "?")},
        "states": {
            "on": {
                "on": {
                    "GO": {"actions": ["next", {"type": "note", "params": lambda ctx, ev: {"n": ctx["n"]}},
                                       "tell", "later"]},
                    "TICK": {"actions": "tick"},
                }
            }
        },
    },
    actions={
        "next": assign(lambda ctx, ev: {"n": ctx["n"] + 1}),
        "tell": send_to("sink", lambda ctx, ev: ctx["sink"],
                        lambda ctx, ev: {"type": "MSG", "n": ctx["n"], "from": ctx["me"]}),
        "later": raise_(lambda ctx, ev: {"type": "TICK", "n": ctx["n"]}, delay=DELAY),
        "tick": assign(lambda ctx, ev: {"ticks": [*ctx["ticks"], ev["n"]]}),
    },
)

fast_retry = Retry(max_attempts=3, backoff=0.05, max_backoff=0.2, timeout=0.5)

app = App()
app.register("reminder", reminder)
app.register("notifier", notifier, effects={"note": note, "flaky": flaky, "slow": slow,
                                            "provider": provider},
             retry=fast_retry)
app.register("job", job, services={"work": work}, retry=fast_retry)
app.register("sender", sender)
app.register("sink", sink, allow_write=sink_write)
app.register("flow", flow, effects={"note": sometimes}, retry=Retry(max_attempts=10, backoff=0.05,
                                                              max_backoff=0.5, timeout=5))
