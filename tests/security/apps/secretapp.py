"""The app the security tests run: machines whose data is private to their owners.

- `vault`: an owner's secrets (a card number and an account given at creation, a PIN, notes
  sent in events) that the subjects listed in `readers` may read through a narrow public
  context. Indexes of every kind: `owner` and `account` (default: the values are not in the
  public context), `pin` (`public=False`), `title` (default, and in the public context) and
  `tag` (`public=True`, not in the public context). `BOOM` / `TRAP` run application code that
  raises with a private value.
- `order`: a reader-aware projection: the customer sees the delivery address, the courier
  does not.
- `feed`: a counter everyone may read, with `pad` (any text) in its context: the replay
  load test.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field
from statesync import Machine, assign

from statesync_server import Access, App, Index

# --- vault ---------------------------------------------------------------------------------


def _vault_context(input: Any) -> dict[str, Any]:
    data = dict(input or {})
    if "explode" in data:  # application code failing at creation with private input
        raise KeyError(data["explode"])
    return {
        "owner": data.get("owner"),
        "title": data.get("title", ""),
        "tag": data.get("tag"),
        "readers": list(data.get("readers", [])),
        "card": data.get("card"),
        "account": data.get("account"),
        "pin": data.get("pin"),
        "notes": [],
        "memos": 0,
    }


def _boom(context: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    raise KeyError(context["card"])


def _trap(context: dict[str, Any], event: dict[str, Any]) -> bool:
    raise ValueError(f"pin {context['pin']} rejected")


vault = Machine(
    {
        "id": "vault",
        "initial": "open",
        "context": _vault_context,
        "states": {
            "open": {
                "on": {
                    "NOTE": {"actions": "note"},
                    "MEMO": {"actions": "memo"},
                    "BOOM": {"actions": "boom"},
                    "TRAP": {"guard": "trap", "actions": "memo"},
                    "CLOSE": "closed",
                },
            },
            "closed": {"on": {"REOPEN": "open"}},
        },
        "on": {
            "ADD_READER": {"actions": "addReader"},
            "REMOVE_READER": {"actions": "removeReader"},
        },
    },
    actions={
        "note": assign(lambda ctx, ev: {"notes": [*ctx["notes"], ev["text"]]}),
        "memo": assign(lambda ctx, ev: {"memos": ctx["memos"] + 1}),  # the memo stays in the log
        "boom": assign(_boom),
        "addReader": assign(lambda ctx, ev: {"readers": [*ctx["readers"], ev["reader"]]}),
        "removeReader": assign(
            lambda ctx, ev: {"readers": [r for r in ctx["readers"] if r != ev["reader"]]}),
    },
    guards={"trap": _trap},
)


class Note(BaseModel):
    text: str = Field(max_length=500)
    label: str = Field(default="", max_length=100)


class Memo(BaseModel):
    memo: str = Field(max_length=500)
    label: str = Field(default="", max_length=100)


class Reader(BaseModel):
    reader: str


def vault_readable(access: Access) -> bool:
    ctx = access.context
    return access.subject == ctx["owner"] or access.subject in ctx["readers"]


def vault_writable(access: Access) -> bool:
    return access.subject == access.context["owner"]


def vault_public(context: dict[str, Any]) -> dict[str, Any]:
    """The one-argument form: the same for every reader."""
    return {"title": context["title"], "readers": context["readers"],
            "notes": len(context["notes"]), "memos": context["memos"]}


def vault_public_event(event: dict[str, Any], reader: Mapping[str, Any]) -> dict[str, Any]:
    """Events show their `label` (and reader changes their reader), nothing else."""
    shown = {"label": event["label"]} if "label" in event else {}
    if "reader" in event:
        shown["reader"] = event["reader"]
    return shown


# --- order ---------------------------------------------------------------------------------

order = Machine(
    {
        "id": "order",
        "initial": "placed",
        "context": lambda input: {
            "customer": input["customer"],
            "courier": input["courier"],
            "address": input["address"],
            "items": list(input.get("items", [])),
            "status": "placed",
        },
        "states": {
            "placed": {"on": {"ADD_ITEM": {"actions": "addItem"}, "MOVE": {"actions": "move"},
                              "SHIP": {"target": "shipped", "actions": "ship"}}},
            "shipped": {"on": {"MOVE": {"actions": "move"}}},
        },
    },
    actions={
        "addItem": assign(lambda ctx, ev: {"items": [*ctx["items"], ev["item"]]}),
        "move": assign(lambda ctx, ev: {"address": ev["address"]}),
        "ship": assign({"status": lambda ctx, ev: "shipped"}),
    },
)


class Item(BaseModel):
    item: str


class Move(BaseModel):
    address: str


def order_public(context: dict[str, Any], reader: Mapping[str, Any]) -> dict[str, Any]:
    shown = {"status": context["status"], "items": context["items"],
             "customer": context["customer"]}
    if reader.get("sub") == context["customer"]:
        shown["address"] = context["address"]
    return shown


def order_readable(access: Access) -> bool:
    return access.subject in (access.context["customer"], access.context["courier"])


def order_writable(access: Access) -> bool:
    if access.creating:
        return access.subject == access.context["customer"]
    return access.subject in (access.context["customer"], access.context["courier"])


# --- feed ----------------------------------------------------------------------------------

feed = Machine(
    {
        "id": "feed",
        "initial": "live",
        "context": lambda input: {"owner": (input or {}).get("owner"), "n": 0,
                                  "pad": (input or {}).get("pad", "")},
        "states": {"live": {"on": {"TICK": {"actions": "tick"}}}},
    },
    actions={"tick": assign(lambda ctx, ev: {"n": ctx["n"] + 1})},
)


# --- doc: a score index over instances most readers may not read (docs/security.md, "Indexes")

doc = Machine({"id": "doc", "initial": "draft",
               "context": lambda input: {"owner": input["owner"], "score": input["score"]},
               "states": {"draft": {}}})


def doc_readable(access: Access) -> bool:
    return access.subject == access.context["owner"]


app = App()
app.register(
    "vault", vault,
    allow_read=vault_readable,
    allow_write=vault_writable,
    public_context=vault_public,
    public_event=vault_public_event,
    allow_read_history=lambda access: access.subject == access.context["owner"],
    events={"NOTE": Note, "MEMO": Memo, "BOOM": None, "TRAP": None, "CLOSE": None,
            "REOPEN": None, "ADD_READER": Reader, "REMOVE_READER": Reader},
    indexes={
        "owner": "owner",
        "account": "account",
        "pin": Index("pin", public=False),
        "title": "title",
        "tag": Index("tag", public=True),
    },
)
app.register(
    "order", order,
    allow_read=order_readable,
    allow_write=order_writable,
    public_context=order_public,
    public_event=lambda event, reader: {"item": event["item"]} if "item" in event else {},
    events={"ADD_ITEM": Item, "MOVE": Move, "SHIP": None},
    indexes={"status": Index("status", public=True), "customer": "customer"},
)
app.register(
    "feed", feed,
    allow_write=lambda access: access.creating or access.subject == access.context["owner"],
    events={"TICK": None},
)
app.register(
    "doc", doc,
    allow_read=doc_readable,
    allow_write=lambda access: access.creating and access.subject == access.context["owner"],
    indexes={"score": Index("score", public=True)},
)
