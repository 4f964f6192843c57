"""The app the server tests run: a document with private fields, and an open counter."""

from __future__ import annotations

from pydantic import BaseModel, Field
from statesync import Machine, assign

from statesync_server import Access, App

document = Machine(
    {
        "id": "doc",
        "initial": "draft",
        "context": lambda input: {
            "owner": (input or {}).get("owner"),
            "body": "",
            "secret": "s3cr3t-" + str((input or {}).get("owner")),
            "readers": [],
        },
        "states": {
            "draft": {
                "tags": ["editable"],
                "on": {
                    "EDIT": {"actions": "edit"},
                    "PUBLISH": {"target": "published", "guard": "hasBody"},
                    "ADD_READER": {"actions": "addReader"},
                },
            },
            "published": {
                "on": {"UNPUBLISH": "draft", "DELETE": "deleted"},
            },
            "deleted": {"type": "final"},
        },
        "on": {"REMOVE_READER": {"actions": "removeReader"}},
    },
    actions={
        "edit": assign({"body": lambda ctx, ev: ev["body"]}),
        "addReader": assign(lambda ctx, ev: {"readers": [*ctx["readers"], ev["reader"]]}),
        "removeReader": assign(
            lambda ctx, ev: {"readers": [r for r in ctx["readers"] if r != ev["reader"]]}
        ),
    },
    guards={"hasBody": lambda ctx, ev: bool(ctx["body"])},
)


class Edit(BaseModel):
    body: str = Field(max_length=1000)


class Reader(BaseModel):
    reader: str


def can_read(access: Access) -> bool:
    ctx = access.context
    return (
        access.claims.get("role") == "admin"
        or access.subject == ctx["owner"]
        or access.subject in ctx["readers"]
    )


def can_write(access: Access) -> bool:
    if access.creating:
        return access.context["owner"] == access.subject
    return access.subject == access.context["owner"] or access.claims.get("role") == "editor"


counter = Machine(
    {
        "id": "counter",
        "initial": "counting",
        "context": {"count": 0},
        "states": {
            "counting": {
                "on": {
                    "INC": {"actions": "inc"},
                    "STOP": "stopped",
                    "BOOM": {"actions": "boom"},
                },
            },
            "stopped": {"type": "final"},
        },
    },
    actions={
        "inc": assign(lambda ctx, ev: {"count": ctx["count"] + ev.get("by", 1)}),
        "boom": assign(lambda ctx, ev: {"count": 1 // 0}),
    },
)

app = App(anonymous_sessions=True)
app.register(
    "doc",
    document,
    allow_read=can_read,
    allow_write=can_write,
    public_context=lambda ctx: {"owner": ctx["owner"], "body": ctx["body"]},
    allow_read_history=lambda access: access.subject == access.context["owner"],
    events={
        "EDIT": Edit,
        "PUBLISH": None,
        "UNPUBLISH": None,
        "DELETE": None,
        "ADD_READER": Reader,
        "REMOVE_READER": Reader,
    },
)
app.register("counter", counter)
