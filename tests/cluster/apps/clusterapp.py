"""Machines for the cluster tests: a counter many processes write to, an instance whose timer
outlives the process that started it, and a job whose service the starting process never
finishes (`STATESYNC_TEST_STALL=1`: that process's services hang until it is killed)."""

from __future__ import annotations

import asyncio
import os

from statesync import Machine, assign, emit

from statesync_server import App, EffectCall

counter = Machine(
    {
        "id": "counter",
        "initial": "counting",
        "context": {"count": 0, "last": None},
        "states": {"counting": {"on": {"ADD": {"actions": "add"}, "PING": {"actions": "pong"}}}},
    },
    actions={
        "add": assign(lambda ctx, ev: {"count": ctx["count"] + ev["n"], "last": ev["n"]}),
        "pong": emit(lambda ctx, ev: {"type": "pong", "n": ev["n"]}),
    },
)

timed = Machine(
    {
        "id": "timed",
        "initial": "waiting",
        "context": lambda input: {"delay": (input or {}).get("delay", 1000)},
        "states": {
            "waiting": {"after": {"wait": "fired"}},
            "fired": {"type": "final"},
        },
    },
    delays={"wait": lambda ctx, ev: ctx["delay"]},
)

relay = Machine(  # each step's timer starts the next one's (tests/server/test_virtual_clock.py)
    {
        "id": "relay",
        "initial": "one",
        "states": {
            "one": {"after": {"60000": "two"}},
            "two": {"after": {"60000": "three"}},
            "three": {"type": "final"},
        },
    },
)

job = Machine(
    {
        "id": "job",
        "initial": "working",
        "states": {
            "working": {"invoke": {"src": "work", "onDone": "done"}},
            "done": {"type": "final"},
        },
    },
)


async def work(call: EffectCall) -> dict:
    if os.environ.get("STATESYNC_TEST_STALL") == "1":
        await asyncio.sleep(3600)  # killed before it ends
    return {"by": os.getpid()}


app = App()
app.register("counter", counter, indexes={"last": "last"},
             public_event=lambda event, reader: {"n": event.get("n")})
app.register("timed", timed)
app.register("relay", relay)
app.register("job", job, services={"work": work})
