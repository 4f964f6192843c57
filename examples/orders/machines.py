"""The order statechart, version 1 and version 2.

Version 1: submitted -> offered to the restaurant (re-offered while nobody answers) ->
accepted (`preparing`) or rejected -> when the food is nearly ready a courier is requested
(`awaiting_courier`) -> a courier accepts (`assigned`) -> picked up (`en_route`) -> delivered.

Version 2 adds restaurants without a partnership: nobody there answers offers, so the courier
is dispatched first and orders at the counter (`routing` picks the path on creation).

Pure: no I/O and no server imports. Who may send what is the app's business (`app.py`);
when an event is accepted is the statechart's.
"""

from __future__ import annotations

from typing import Any

from statesync import Machine, Sender, assign

REOFFER_MS = 60_000
"""How long a restaurant has to answer an offer before it is offered again."""
MAX_OFFERS = 3
"""Offers before an unanswered order is given up (`unanswered`)."""
PARTNERS = frozenset({"luigi", "sakura"})
"""Restaurants with a partnership (a table in a real app): they accept orders themselves."""
OPEN = ("offered", "preparing", "awaiting_courier", "assigned", "en_route")
"""The states of an order still in progress."""


def _total_cents(items: Any) -> int:
    """The order's total (0 for input the app's authorizer is about to refuse)."""
    if not isinstance(items, list):
        return 0
    lines = [(i.get("qty"), i.get("price_cents")) for i in items if isinstance(i, dict)]
    return sum(q * p for q, p in lines if isinstance(q, int) and isinstance(p, int))


def new_order(input: Any, *, sender: Sender) -> dict[str, Any]:
    """The context of an order submitted by `sender`. The app's authorizer validates the
    input right after (and refuses the creation if it is not an order): read it defensively."""
    order = input if isinstance(input, dict) else {}
    items = order.get("items") or []
    return {
        "customer": sender.subject,
        "restaurant": order.get("restaurant"),
        "items": items,
        "total_cents": _total_cents(items),
        "address": order.get("address"),
        "payment": order.get("payment"),
        "courier": None,
        "offers": 1,
        "prep_seconds": None,
        "reason": None,
        "status": "offered",
        "open_at": order.get("restaurant"),
    }


def _status(name: str) -> dict[str, Any]:
    """Entry action keeping `status` (an indexed copy of the state) and `open_at` (the
    restaurant while the order is open: the restaurant's live query)."""
    return {"type": "status", "params": {"status": name}}


def _set_status(context: dict[str, Any], event: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    status = params["status"]
    return {"status": status, "open_at": context["restaurant"] if status in OPEN else None}


IMPLEMENTATIONS: dict[str, Any] = {
    "actions": {
        "status": assign(_set_status),
        "countOffer": assign(lambda ctx, ev: {"offers": ctx["offers"] + 1}),
        "keepPrep": assign(lambda ctx, ev: {"prep_seconds": ev["prep_seconds"]}),
        "keepReason": assign(lambda ctx, ev: {"reason": ev.get("reason")}),
        "assignCourier": assign({"courier": lambda ctx, ev, *, sender: sender.subject}),
    },
    "guards": {
        "mayReoffer": lambda ctx, ev: ctx["offers"] < MAX_OFFERS,
        "partner": lambda ctx, ev: ctx.get("partner", True),
    },
    "delays": {
        "reofferDelay": REOFFER_MS,
        "courierDelay": lambda ctx, ev: int(ctx["prep_seconds"] * 1000),
    },
}


def _order_states() -> dict[str, Any]:
    """The states both versions share."""
    return {
        "offered": {
            "entry": _status("offered"),
            "after": {"reofferDelay": [
                {"guard": "mayReoffer", "target": "offered", "reenter": True,
                 "actions": "countOffer"},
                {"target": "unanswered"},
            ]},
            "on": {
                "ACCEPT": {"target": "preparing", "actions": "keepPrep"},
                "REJECT": {"target": "rejected", "actions": "keepReason"},
                "CANCEL": "cancelled",
            },
        },
        "preparing": {
            "entry": _status("preparing"),
            "after": {"courierDelay": "awaiting_courier"},
        },
        "awaiting_courier": {
            "entry": _status("awaiting_courier"),
            "on": {"ACCEPT_JOB": {"target": "assigned", "actions": "assignCourier"}},
        },
        "assigned": {"entry": _status("assigned"), "on": {"PICKED_UP": "en_route"}},
        "en_route": {"entry": _status("en_route"), "on": {"DELIVERED": "delivered"}},
        "delivered": {"type": "final", "entry": _status("delivered")},
        "rejected": {"type": "final", "entry": _status("rejected")},
        "unanswered": {"type": "final", "entry": _status("unanswered")},
        "cancelled": {"type": "final", "entry": _status("cancelled")},
    }


order_v1 = Machine(
    {"id": "order", "initial": "offered", "context": new_order, "states": _order_states()},
    **IMPLEMENTATIONS,
)


def new_order_v2(input: Any, *, sender: Sender) -> dict[str, Any]:
    """Version 2's context: whether the restaurant is a partner decides the path."""
    context = new_order(input, sender=sender)
    return {**context, "partner": context["restaurant"] in PARTNERS}


order_v2 = Machine(
    {
        "id": "order",
        "initial": "routing",
        "context": new_order_v2,
        "states": {
            "routing": {"always": [{"guard": "partner", "target": "offered"},
                                   {"target": "awaiting_courier"}]},
            **_order_states(),
        },
    },
    **IMPLEMENTATIONS,
)
