"""In-process checks of the workflow runtime's races (the engine on a real database, each backend)."""

from __future__ import annotations

import asyncio

from statesync import Machine
from statesync_server import App, Engine, Op, Store
from statesync_server.testing.postgres import Databases, query
from statesync_server.workflow.timers import Timer

CLAIMS = {"sub": "alice", "exp": 2**40}

machine = Machine({
    "id": "m",
    "initial": "a",
    "states": {
        "a": {"after": {"60000": "b"}, "on": {"RESTART": {"target": "a", "reenter": True}}},
        "b": {},
    },
})
TIMER = "xstate.after.60000.m.a"


def _timers(db: str) -> list[tuple]:
    return [tuple(row) for row in query(db, "SELECT timer_id, seq FROM timers")]


async def test_a_stale_firing_never_touches_the_restarted_timer(databases: Databases) -> None:
    app = App()
    app.register("m", machine)
    db = databases.new("w")
    engine = Engine(app, Store(db))
    await engine.start()
    try:
        await engine.run(Op("create", "m", "x", CLAIMS))
        assert _timers(db) == [(TIMER, 0)]
        await engine.run(Op("send", "m", "x", CLAIMS, event={"type": "RESTART"}, event_id="r1"))
        assert _timers(db) == [(TIMER, 1)]  # cancelled and started again, in one commit
        event = {"type": TIMER}
        # the first timer's firing arrives late (it was already queued): dropped, harmless
        engine.workflow._fire(Timer(0.0, 0, "m", "x", TIMER, 0, event))
        await asyncio.sleep(0.2)
        state = await engine.run(Op("get", "m", "x", CLAIMS))
        assert (state.value, state.seq) == ("a", 1)
        assert _timers(db) == [(TIMER, 1)]
        assert len(engine.workflow.scheduler) == 1
        # the live one fires
        engine.workflow._fire(Timer(0.0, 1, "m", "x", TIMER, 1, event))
        await asyncio.sleep(0.2)
        state = await engine.run(Op("get", "m", "x", CLAIMS))
        assert (state.value, state.seq) == ("b", 2)
        assert _timers(db) == []
    finally:
        await engine.stop()
