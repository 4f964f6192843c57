"""The task board after a deploy that removed the `column` index (tests/e2e/test_sdk_queries.py
restarts the server into it: a live query of that index is refused when watched again)."""

from __future__ import annotations

from pathlib import Path

import taskboard

from statesync_server import App

app = App(browser_module=taskboard, static_dir=Path(__file__).parent / "static")
app.register("task", taskboard.task, indexes={"points": "points"})
