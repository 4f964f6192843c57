"""Version 1 of the rolling-deploy app (tests/cluster/test_rolling_deploy.py): a tally, and an
instance whose timer falls due during the deploy."""

from __future__ import annotations

from statesync import Machine, assign

from statesync_server import App

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


def build() -> App:
    app = App()
    app.register("tally", tally_v1, version="1")
    app.register("timed", timed, version="1")
    return app


app = build()
