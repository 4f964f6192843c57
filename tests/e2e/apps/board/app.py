"""A task board for the browser SDK's query, live query, `can()` and React tests: tasks
indexed by column and points, readable and writable by every signed-in user; the page in
static/ renders it with the React bindings."""

from __future__ import annotations

from pathlib import Path

import taskboard

from statesync_server import App, Index

app = App(browser_module=taskboard, static_dir=Path(__file__).parent / "static")
app.register("task", taskboard.task,
             indexes={"column": Index("column", public=True), "points": "points"})
