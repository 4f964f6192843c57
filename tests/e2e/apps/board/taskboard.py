"""The board's machine: imported by the server and, in the browser, by Pyodide (standard
library and statesync only: this file is served to browsers)."""

from __future__ import annotations

from statesync import Machine, assign

COLUMNS = ("todo", "doing", "review")

task = Machine(
    {
        "id": "task",
        "initial": "open",
        "context": lambda input: {"title": input.get("title", ""),
                                  "column": input.get("column", "todo"),
                                  "points": input.get("points", 1),
                                  "assignee": input.get("assignee")},
        "states": {
            "open": {
                "on": {
                    "MOVE": {"guard": "known_column", "actions": "move"},
                    "ASSIGN": {"actions": "assign"},
                    "START": {"guard": "assigned", "actions": "start"},
                    "CLOSE": "closed",
                },
            },
            "closed": {"tags": ["archived"], "on": {"REOPEN": "open"}},
        },
    },
    actions={
        "move": assign(lambda ctx, ev: {"column": ev["column"]}),
        "assign": assign(lambda ctx, ev: {"assignee": ev["who"]}),
        "start": assign(lambda ctx, ev: {"column": "doing"}),
    },
    guards={
        "known_column": lambda ctx, ev: ev["column"] in COLUMNS,  # needs the payload
        "assigned": lambda ctx, ev: bool(ctx["assignee"]),
    },
)
