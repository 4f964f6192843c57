"""The optimistic client and child actors: a parent's send_to / forward_to / spawn_child /
stop_child are predicted like effects (the parent's own state changes at once, nothing is
carried out locally); the children's results arrive from the server as updates."""

from __future__ import annotations

import logging

from statesync import Machine, assign, forward_to, send_to, spawn_child, stop_child
from statesync.client.reconcile import Reconciler
from statesync.client.state import State

child = Machine({"id": "child", "initial": "w", "states": {"w": {"on": {"GO": "end"}}, "end": {"type": "final"}}})
parent = Machine.setup(actors={"kid": child}).create_machine({
    "id": "parent",
    "initial": "busy",
    "context": {"sent": 0},
    "states": {
        "busy": {
            "invoke": {"src": "kid", "id": "kid", "onDone": "done"},
            "on": {
                "NUDGE": {"actions": [send_to("kid", {"type": "GO"}), assign({"sent": lambda c, e: c["sent"] + 1})]},
                "FWD": {"actions": [forward_to("kid"), assign({"sent": lambda c, e: c["sent"] + 1})]},
                "MORE": {"actions": [spawn_child("kid", id="extra"), stop_child("extra")]},
            },
        },
        "done": {},
    },
})


def test_child_actions_are_predicted_like_effects(caplog) -> None:
    reconciler = Reconciler(parent)
    reconciler.confirm(State("busy", [], {"sent": 0}, "active", 0))  # public state: no children
    with caplog.at_level(logging.WARNING):
        reconciler.add("e1", {"type": "NUDGE"})
        reconciler.add("e2", {"type": "FWD"})
        reconciler.add("e3", {"type": "MORE"})
    assert reconciler.visible is not None and reconciler.visible.context == {"sent": 2}
    assert not caplog.records  # nothing failed locally (the invoked child is known)
    # the server's answer: the child ended, the parent took its done event
    for seq, event_id in enumerate(("e1", "e2", "e3"), start=1):
        reconciler.ack(event_id, seq)
    reconciler.confirm(State("done", [], {"sent": 2}, "active", 4))
    assert reconciler.visible.value == "done" and not reconciler.pending
