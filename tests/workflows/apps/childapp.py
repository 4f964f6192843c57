"""The child-instance tests' app: machines that invoke or spawn other machines (docs/workflows.md,
"Child machines")."""

from __future__ import annotations

from statesync import (
    SELF,
    Machine,
    assign,
    cancel,
    forward_to,
    send_parent,
    send_to,
    spawn_child,
    stop_child,
)
from statesync_server import App, Retry
from statesync_server import EffectCall

# A payment: waits for APPROVE (from its parent), tells the parent on the way, and ends with an
# output; CHARGE invokes a service that fails, with no onError: the payment ends in error. It
# expires after an hour, so a stopped payment has a timer to cancel.
payment = Machine(
    {
        "id": "payment",
        "initial": "pending",
        "context": lambda input: {"amount": (input or {}).get("amount", 0), "pings": 0},
        "states": {
            "pending": {
                "after": {"3600000": "expired"},
                "on": {
                    "APPROVE": {"target": "approved", "actions": "progress"},
                    "PING": {"actions": "countPing"},
                    "CHARGE": "charging",
                },
            },
            "charging": {"invoke": {"src": "charge"}},
            "approved": {"type": "final"},
            "expired": {"type": "final"},
        },
        "output": lambda ctx, ev: {"ok": True, "amount": ctx["amount"], "pings": ctx["pings"]},
    },
    actions={
        "progress": send_parent(lambda ctx, ev: {"type": "PROGRESS", "amount": ctx["amount"]}),
        "countPing": assign(lambda ctx, ev: {"pings": ctx["pings"] + 1}),
    },
)

# An order invokes its payment (an actor that is the registered `payment` Machine); NUDGE
# approves it through send_to, PING is forwarded, CANCEL leaves the invoking state.
order = Machine.setup(
    actors={"pay": payment},
    actions={
        "approve": send_to("pay", {"type": "APPROVE"}),
        "poke": send_to("nobody", {"type": "APPROVE"}),
        "forward": forward_to("pay"),
        "progress": assign(lambda ctx, ev: {"progress": [*ctx["progress"], ev["amount"]]}),
        "paid": assign(lambda ctx, ev: {"receipt": ev["output"]}),
        "failed": assign(lambda ctx, ev: {"error": ev["error"]}),
    },
).create_machine(
    {
        "id": "order",
        "initial": "paying",
        "context": {"progress": [], "receipt": None, "error": None},
        "states": {
            "paying": {
                "invoke": {
                    "src": "pay",
                    "id": "pay",
                    "input": lambda ctx, ev: {"amount": (ev.get("input") or {}).get("amount", 1)},
                    "onDone": {"target": "paid", "actions": "paid"},
                    "onError": {"target": "failed", "actions": "failed"},
                },
                "on": {
                    "NUDGE": {"actions": "approve"},
                    "PING": {"actions": "forward"},
                    "CHARGE": {"actions": send_to("pay", {"type": "CHARGE"})},
                    "POKE": {"actions": "poke"},
                    "CANCEL": "cancelled",
                },
            },
            "paid": {},
            "failed": {},
            "cancelled": {},
        },
        "on": {"PROGRESS": {"actions": "progress"}},
    }
)

# A wallet spawns payments by the registered machine's name and stops them by id.
wallet = Machine(
    {
        "id": "wallet",
        "initial": "open",
        "context": {"done": []},
        "states": {
            "open": {
                "on": {
                    "SPAWN": {"actions": "spawn"},
                    "STOP": {"actions": "stop"},
                    "xstate.done.actor.p1": {"actions": "record"},
                },
            },
        },
    },
    actions={
        "spawn": spawn_child("payment", id="p1", input={"amount": 5}),
        "stop": stop_child("p1"),
        "record": assign(lambda ctx, ev: {"done": [*ctx["done"], ev["output"]]}),
    },
)

# A machine that invokes itself: each level is a child instance of the one above, until the
# name would be too long; the deepest parent then gets the error event.
loop = Machine(
    {
        "id": "loop",
        "initial": "run",
        "states": {
            "run": {"invoke": {"src": "loop", "id": "again", "onError": "broke"}},
            "broke": {},
        },
    }
)



async def charge(call: EffectCall) -> None:
    raise RuntimeError("card declined")


# A monitor invokes a payment with onSnapshot (XState's invoke.onSnapshot): it hears the
# child's first snapshot and each change while the child is active, then its done event.
monitor = Machine.setup(
    actors={"pay": payment},
    actions={
        "saw": assign(lambda ctx, ev: {"seen": [*ctx["seen"], [ev["snapshot"]["value"],
                                                               ev["snapshot"]["context"]["pings"]]]}),
        "paid": assign(lambda ctx, ev: {"receipt": ev["output"]}),
    },
).create_machine(
    {
        "id": "monitor",
        "initial": "watching",
        "context": {"seen": [], "receipt": None},
        "states": {
            "watching": {
                "invoke": {"src": "pay", "id": "pay", "onSnapshot": {"actions": "saw"},
                           "onDone": {"target": "paid", "actions": "paid"}},
                "on": {"PING": {"actions": forward_to("pay")},
                       "NUDGE": {"actions": send_to("pay", {"type": "APPROVE"})}},
            },
            "paid": {},
        },
    },
)

# A crew hires a payment per member, its child id computed from the event; reminds one of
# them a minute later (a durable delayed send_to, cancelled by its id), and nudges itself
# (send_to SELF, now and a second later). WATCH spawns one with sync_snapshot: the crew hears
# each of its snapshots.
crew = Machine(
    {
        "id": "crew",
        "initial": "open",
        "context": {"nudges": 0, "seen": []},
        "states": {
            "open": {
                "on": {
                    "HIRE": {"actions": "hire"},
                    "REMIND": {"actions": "remind"},
                    "FORGET": {"actions": cancel("remind")},
                    "FIRE": {"actions": "fire"},
                    "NUDGE_ME": {"actions": ["nudgeNow", "nudgeLater"]},
                    "NUDGED": {"actions": "countNudge"},
                    "WATCH": {"actions": "watch"},
                    "POKE": {"actions": "poke"},
                    "xstate.snapshot.*": {"actions": "saw"},
                },
            },
        },
    },
    actions={
        "hire": spawn_child("payment", id=lambda ctx, ev: ev["name"],
                            input=lambda ctx, ev: {"amount": ev["amount"]}),
        "remind": send_to(lambda ctx, ev: ev["name"], {"type": "PING"}, delay=60_000, id="remind"),
        "fire": stop_child(lambda ctx, ev: ev["name"]),
        "nudgeNow": send_to(SELF, {"type": "NUDGED"}),
        "nudgeLater": send_to(SELF, {"type": "NUDGED"}, delay=1000),
        "countNudge": assign(lambda ctx, ev: {"nudges": ctx["nudges"] + 1}),
        "watch": spawn_child("payment", id=lambda ctx, ev: ev["name"], sync_snapshot=True),
        "poke": send_to(lambda ctx, ev: ev["name"], {"type": "PING"}),
        "saw": assign(lambda ctx, ev: {"seen": [*ctx["seen"], [ev["actorId"], ev["snapshot"]["context"]["pings"]]]}),
    },
)

app = App()
app.register("payment", payment, allow_read=lambda access: access.subject == "alice",
             services={"charge": charge}, retry=Retry(max_attempts=1))
app.register("order", order)
app.register("wallet", wallet)
app.register("loop", loop)
app.register("monitor", monitor)
app.register("crew", crew)
