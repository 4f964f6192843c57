"""The example's machines: imported by the server and, in the browser, by Pyodide.

Only the standard library and statesync may be imported here: this file is served to browsers.
"""

from __future__ import annotations

from statesync import Machine, assign

todo = Machine(
    {
        "id": "todo",
        "initial": "active",
        "context": {"items": [], "next_id": 1},
        "states": {
            "active": {
                "on": {
                    "ADD": {"actions": "add"},
                    "TOGGLE": {"actions": "toggle"},
                    "CLEAR_DONE": {"actions": "clear_done"},
                },
            },
        },
    },
    actions={
        "add": assign(
            lambda ctx, ev: {
                "items": [*ctx["items"], {"id": ctx["next_id"], "text": ev["text"], "done": False}],
                "next_id": ctx["next_id"] + 1,
            }
        ),
        "toggle": assign(
            lambda ctx, ev: {
                "items": [
                    {**item, "done": not item["done"]} if item["id"] == ev["id"] else item
                    for item in ctx["items"]
                ]
            }
        ),
        "clear_done": assign(lambda ctx, ev: {"items": [i for i in ctx["items"] if not i["done"]]}),
    },
)
