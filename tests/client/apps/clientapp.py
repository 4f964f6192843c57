"""The app the client tests run against: shared machines (also given to the clients)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from statesync import Machine, assign

from statesync_server import Access, App

# A list anyone may append to: order and exactly-once are visible in `items`.
journal = Machine(
    {
        "id": "journal",
        "initial": "open",
        "context": {"items": []},
        "states": {
            "open": {"on": {"ADD": {"actions": "add"}, "CLOSE": "closed"}},
            "closed": {"tags": ["read-only"], "on": {"REOPEN": "open"}},
        },
    },
    actions={"add": assign(lambda ctx, ev: {"items": [*ctx["items"], ev["item"]]})},
)

# A vault: opening needs a pin that never leaves the server.
vault = Machine(
    {
        "id": "vault",
        "initial": "locked",
        "context": lambda input: {"pin": (input or {}).get("pin", "0000"), "opens": 0},
        "states": {
            "locked": {"on": {"OPEN": {"target": "unlocked", "guard": "pinMatches",
                                       "actions": "count"}}},
            "unlocked": {"tags": ["open"], "on": {"LOCK": "locked"}},
        },
    },
    actions={"count": assign(lambda ctx, ev: {"opens": ctx["opens"] + 1})},
    guards={"pinMatches": lambda ctx, ev: ctx["pin"] == ev.get("pin")},
)


def owner_writes(access: Access) -> bool:
    """Anyone may create and read a journal named `<sub>-...`; only that owner may write."""
    return access.creating or access.instance.startswith(f"{access.subject}-")


app = App(anonymous_sessions=True)
app.register("journal", journal)
app.register("owned", journal, allow_write=owner_writes)
app.register("vault", vault, public_context=lambda ctx: {"opens": ctx["opens"]})


class Entry(BaseModel):
    item: str = Field(min_length=1)


class Opening(BaseModel):
    owner: str = Field(min_length=1)


app.register("checked", journal, events={"ADD": Entry, "CLOSE": None, "REOPEN": None},
             input_model=Opening)

# A card on a board, indexed by its column: live queries by column show moves optimistically.
card = Machine(
    {
        "id": "card",
        "initial": "open",
        "context": lambda input: {"column": input.get("column", "todo")},
        "states": {"open": {"on": {"MOVE": {"actions": "move"}}}},
    },
    actions={"move": assign(lambda ctx, ev: {"column": ev["column"]})},
)


class Move(BaseModel):
    column: Literal["todo", "doing", "done"]  # the server refuses others; the client does not


app.register("card", card, events={"MOVE": Move}, indexes={"column": "column"})

MACHINES = {"journal": journal, "owned": journal, "vault": vault, "checked": journal,
            "card": card}
