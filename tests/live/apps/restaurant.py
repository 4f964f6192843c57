"""Restaurant orders for the live query tests: indexed by status and restaurant.

Staff (a token with a `restaurant` claim) read their restaurant's orders unless blocked;
customers read their own. The tip is shown to the customer only; the pickup code and the
kitchen note never leave the server.
"""

from __future__ import annotations

from statesync import Machine, assign
from statesync_server import Access, App, Index

order = Machine(
    {
        "id": "order",
        "initial": "open",
        "context": lambda input: {
            "restaurant": input["restaurant"], "customer": input["customer"],
            "status": input.get("status", "new"),
            "items": input.get("items", []), "tip": input.get("tip", 0),
            "code": input.get("code", ""), "note": input.get("note", ""), "blocked": []},
        "states": {"open": {"on": {"SET": {"actions": "set"}}}},
    },
    actions={"set": assign(lambda ctx, ev: {k: v for k, v in ev.items() if k != "type"})},
)


def may_read(access: Access) -> bool:
    ctx = access.context
    if access.subject == ctx["customer"]:
        return True
    return (access.claims.get("restaurant") == ctx["restaurant"]
            and access.subject not in ctx["blocked"])


def public(ctx: dict, reader: dict) -> dict:
    shown = {k: ctx[k] for k in ("restaurant", "customer", "status", "items")}
    if reader.get("sub") == ctx["customer"]:
        shown["tip"] = ctx["tip"]
    return shown


app = App()
app.register(
    "order", order, allow_read=may_read, public_context=public,
    indexes={"status": Index("status", public=True), "restaurant": "restaurant", "tip": "tip",
             "code": Index("code", public=False)},
)
