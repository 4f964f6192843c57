"""Version 1 of the rolling-deploy app (tests/cluster/test_rolling_deploy.py): a tally, an
instance whose timer falls due during the deploy, and a job whose service (an effect) may be
running when its process is replaced."""

from __future__ import annotations

import asyncio

from statesync import Machine, assign

from statesync_server import App, EffectCall

tally_v1 = Machine(
    {
        "id": "tally",
        "initial": "open",
        "context": {"count": 0},
        "states": {"open": {"on": {"ADD": {"actions": "add"}}}},
    },
    actions={"add": assign(lambda ctx, ev: {"count": ctx["count"] + 1})},
)

timed = Machine(
    {
        "id": "timed",
        "initial": "waiting",
        "context": lambda input: {"delay": (input or {}).get("delay", 1000)},
        "states": {"waiting": {"after": {"wait": "fired"}}, "fired": {"type": "final"}},
    },
    delays={"wait": lambda ctx, ev: ctx["delay"]},
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
    await asyncio.sleep(0.2)  # long enough to be under way when a process stops
    return {}


def build() -> App:
    app = App()
    app.register("tally", tally_v1, version="1")
    app.register("timed", timed, version="1")
    app.register("job", job, version="1", services={"work": work})
    return app


app = build()
