"""`python -m statesync.demo`: drive an order statechart through the pure core and print each step."""

from __future__ import annotations

from .actions import assign
from .machine import Machine

ORDER = {
    "id": "order",
    "initial": "cart",
    "context": {"items": 0},
    "states": {
        "cart": {
            "on": {
                "ADD": {"actions": "addItem"},
                "CHECKOUT": {"target": "checkout", "guard": "hasItems"},
            },
            "tags": ["editable"],
        },
        "checkout": {
            "type": "parallel",
            "states": {
                "payment": {"initial": "pending", "states": {"pending": {"on": {"PAID": "paid"}}, "paid": {"type": "final"}}},
                "shipping": {
                    "initial": "packing",
                    "states": {"packing": {"after": {"1000": "sent"}}, "sent": {"type": "final", "entry": "emailTracking"}},
                },
            },
            "onDone": "complete",
        },
        "complete": {"type": "final"},
    },
    "output": lambda context, event: {"items": context["items"]},
}


def main() -> None:
    machine = Machine(
        ORDER,
        actions={"addItem": assign({"items": lambda context, event: context["items"] + 1})},
        guards={"hasItems": lambda context, event: context["items"] > 0},
    )
    snapshot, actions = machine.initial_transition()
    print(f"start            -> {snapshot.value}  tags={sorted(snapshot.tags)}")
    timer = "xstate.after.1000.order.checkout.shipping.packing"
    for event in ("CHECKOUT", "ADD", "ADD", "CHECKOUT", "PAID", timer):
        snapshot, actions = machine.transition(snapshot, {"type": event})
        effects = [a.type for a in actions]
        print(f"{event[:16]:<16} -> {snapshot.value}  context={snapshot.context}  actions={effects}")
    print(f"status={snapshot.status} output={snapshot.output}")
    print()
    print(machine.to_mermaid())


if __name__ == "__main__":
    main()
