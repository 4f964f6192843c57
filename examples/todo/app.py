"""A shared todo list: the owner edits, invited members read, the member list stays private.

Run it:   statesync serve examples/todo/app.py
Token:    statesync token --sub alice
"""

from __future__ import annotations

from machines import todo
from pydantic import BaseModel, Field

from statesync_server import Access, App


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
