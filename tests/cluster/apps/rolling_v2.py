"""Version 2 of the rolling-deploy app: tally version 2 counts the same and records the
version that applied each event; version 1 stays registered, with a migration."""

from __future__ import annotations

import sys
from pathlib import Path

from statesync import Machine, assign

from statesync_server import Migration

sys.path.insert(0, str(Path(__file__).parent))
from rolling_v1 import build  # noqa: E402

tally_v2 = Machine(
    {
        "id": "tally",
        "initial": "open",
        "context": {"count": 0, "by_v2": 0},
        "states": {"open": {"on": {"ADD": {"actions": "add"}}}},
    },
    actions={"add": assign(lambda ctx, ev: {"count": ctx["count"] + 1,
                                            "by_v2": ctx["by_v2"] + 1})},
)

app = build()
app.register("tally", tally_v2, version="2")
app.add_migration(Migration("tally", "1", "2", context=lambda ctx: {**ctx, "by_v2": 0}))
