"""A shared todo list: the owner edits, invited members read, the member list stays private.

Run it:   statesync serve examples/todo/app.py
Token:    statesync token --sub alice
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from statesync import Machine, Sender, assign

from statesync_server import Access, App


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


class Add(BaseModel):
    text: str = Field(min_length=1, max_length=500)


class ItemRef(BaseModel):
    id: int


class Rename(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class Share(BaseModel):
    member: str = Field(min_length=1, max_length=200)


def can_read(access: Access) -> bool:
    """The owner and the members it shared the list with."""
    ctx = access.context
    return access.subject == ctx["owner"] or access.subject in ctx["members"]


def can_write(access: Access) -> bool:
    """Anyone may create a list they own; afterwards only the owner changes it."""
    if access.creating:
        return access.context["owner"] == access.subject
    return access.subject == access.context["owner"]


def public(context: dict) -> dict:
    """Members never leave the server: each reader sees the list, not who else can. `next_id`
    is shown so that clients predict `ADD` (which reads it) exactly as the server applies it."""
    return {"title": context["title"], "owner": context["owner"], "items": context["items"],
            "next_id": context["next_id"]}


app = App()
app.register(
    "todo",
    todo,
    allow_read=can_read,
    allow_write=can_write,
    public_context=public,
    events={
        "ADD": Add,
        "TOGGLE": ItemRef,
        "REMOVE": ItemRef,
        "RENAME": Rename,
        "SHARE": Share,
        "ARCHIVE": None,
        "RESTORE": None,
    },
)
