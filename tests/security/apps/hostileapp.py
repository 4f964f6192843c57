"""The app the hostile-input tests attack: an open counter, and notes with a typed event
table, an owner-only rule and indexes (so that queries and cursors can be attacked too)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from statesync import Machine, assign
from statesync_server import Access, App

counter = Machine(
    {
        "id": "counter",
        "initial": "counting",
        "context": {"count": 0},
        "states": {"counting": {"on": {"INC": {"actions": "inc"}, "STOP": "stopped"}},
                   "stopped": {"type": "final"}},
    },
    actions={"inc": assign(lambda ctx, ev: {"count": ctx["count"] + ev.get("by", 1)})},
)

note = Machine(
    {
        "id": "note",
        "initial": "open",
        "context": lambda input: {"owner": (input or {}).get("owner"),
                                  "score": (input or {}).get("score", 0), "text": ""},
        "states": {"open": {"on": {"EDIT": {"actions": "edit"}, "CLOSE": "closed"}},
                   "closed": {"type": "final"}},
    },
    actions={"edit": assign(lambda ctx, ev: {"text": ev["text"], "score": ev["score"]})},
)


class Edit(BaseModel):
    text: str = Field(max_length=100)
    score: int = 0


def owner_only(access: Access) -> bool:
    return access.subject == access.context["owner"]


app = App(anonymous_sessions=True)
app.register("counter", counter)
app.register(
    "note", note,
    allow_read=owner_only,
    allow_write=owner_only,
    events={"EDIT": Edit, "CLOSE": None},
    indexes={"owner": "owner", "score": "score"},
)
