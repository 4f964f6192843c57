"""The onboarding machine: imported by app.py (which sets the drip delay from the
environment), and runnable in the browser (Pyodide or MicroPython).

Only the standard library and statesync may be imported here.
"""

from __future__ import annotations

from statesync import Machine, assign

DAY_MS = 24 * 60 * 60 * 1000


onboarding = Machine(
    {
        "id": "onboarding",
        "initial": "welcoming",
        "context": lambda input: {
            "user": input["user"],
            "email": input["email"],
            "name": input.get("name", ""),
            "welcome_id": None,
        },
        "states": {
            "welcoming": {
                "invoke": {
                    "id": "welcome",
                    "src": "sendWelcome",
                    "input": lambda ctx, ev: {"to": ctx["email"], "name": ctx["name"]},
                    "onDone": {"target": "waiting", "actions": "keepWelcomeId"},
                    "onError": "stuck",
                },
            },
            "waiting": {
                "after": {"dripDelay": "drip_sent"},
                "on": {"UNSUBSCRIBE": "unsubscribed"},
            },
            "drip_sent": {
                "type": "final",
                "entry": {"type": "sendDrip",
                          "params": lambda ctx, ev: {"to": ctx["email"], "name": ctx["name"]}},
            },
            "unsubscribed": {"type": "final"},
            "stuck": {"tags": ["needs-attention"], "on": {"RETRY": "welcoming"}},
        },
    },
    actions={"keepWelcomeId": assign({"welcome_id": lambda ctx, ev: ev["output"]["message_id"]})},
    delays={"dripDelay": DAY_MS},
)
