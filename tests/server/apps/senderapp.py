"""An app whose machines read the sender of events: a claimable item and a relay that
sends it events from another instance."""

from __future__ import annotations

from typing import Any

from statesync import Machine, Sender, assign, send_to

from statesync_server import App


def note(context: dict[str, Any], event: dict[str, Any], *, sender: Sender) -> dict[str, Any]:
    seen = {"origin": sender.origin, "subject": sender.subject,
            "instance": list(sender.instance) if sender.instance else None}
    return {"notes": [*context["notes"], seen]}


claim = Machine(
    {
        "id": "claim",
        "initial": "open",
        "context": lambda input, *, sender: {"creator": sender.subject, "owner": None,
                                             "role": None, "notes": []},
        "states": {
            "open": {"on": {"CLAIM": {"target": "taken", "actions": "setOwner"}}},
            "taken": {
                "on": {
                    "RELEASE": {"target": "open", "guard": "isOwner", "actions": "clear"},
                    "LATER": "waiting",
                }
            },
            "waiting": {"after": {"10": {"target": "taken", "actions": "note"}}},
        },
        "on": {"NOTE": {"actions": "note"}},
    },
    actions={
        "setOwner": assign(lambda ctx, ev, *, sender: {"owner": sender.subject,
                                                       "role": sender.claims.get("role")}),
        "clear": assign({"owner": None, "role": None}),
        "note": assign(note),
    },
    guards={"isOwner": lambda ctx, ev, *, sender: sender.subject == ctx["owner"]},
)

relay = Machine(
    {
        "id": "relay",
        "initial": "idle",
        "states": {"idle": {"on": {"POKE": {"actions": send_to(
            "claim", lambda ctx, ev: ev["target"], {"type": "NOTE"})}}}},
    }
)

app = App()
app.register("claim", claim,
             public_event=lambda event, reader, *, sender: {"by": sender.subject,
                                                            "origin": sender.origin})
app.register("relay", relay)
