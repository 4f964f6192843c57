"""The todo machine: imported by app.py, and runnable in the browser (Pyodide or MicroPython).

Only the standard library and statesync may be imported here.
"""

from __future__ import annotations

from statesync import Machine, Sender, assign


def _context(input: dict | None, *, sender: Sender) -> dict:
    """A new list: its creator owns it."""
    input = input or {}
    return {
        "title": str(input.get("title", "Todo")),
        "owner": sender.subject,
        "members": [],
        "items": [],
        "next_id": 1,
    }


def _has_item(context: dict, event: dict) -> bool:
    return any(item["id"] == event["id"] for item in context["items"])


todo = Machine(
    {
        "id": "todo",
        "initial": "active",
        "context": _context,
        "states": {
            "active": {
                "on": {
                    "ADD": {"actions": "add"},
                    "TOGGLE": {"guard": "hasItem", "actions": "toggle"},
                    "REMOVE": {"guard": "hasItem", "actions": "remove"},
                    "RENAME": {"actions": "rename"},
                    "SHARE": {"actions": "share"},
                    "ARCHIVE": {"target": "archived"},
                },
            },
            "archived": {"tags": ["read-only"], "on": {"RESTORE": "active"}},
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
        "remove": assign(
            lambda ctx, ev: {"items": [i for i in ctx["items"] if i["id"] != ev["id"]]}
        ),
        "rename": assign({"title": lambda ctx, ev: ev["title"]}),
        "share": assign(lambda ctx, ev: {"members": sorted({*ctx["members"], ev["member"]})}),
    },
    guards={"hasItem": _has_item},
)
