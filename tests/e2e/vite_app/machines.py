"""The fixture app's machine: imported by the server and, in the browser, by Pyodide (only the
standard library and statesync)."""

from __future__ import annotations

from statesync import Machine, assign

todo = Machine(
    {
        "id": "todo",
        "initial": "active",
        "context": lambda input: {"owner": (input or {}).get("owner"), "items": [], "next_id": 1},
        "states": {
            "active": {"on": {"ADD": {"actions": "add"}, "ARCHIVE": "archived"}},
            "archived": {"tags": ["read-only"], "on": {"RESTORE": "active"}},
        },
    },
    actions={
        "add": assign(lambda ctx, ev: {
            "items": [*ctx["items"], {"id": ctx["next_id"], "text": ev["text"]}],
            "next_id": ctx["next_id"] + 1,
        }),
    },
)
