"""A counter whose guard and step live in a helper module of the same package."""

from statesync import Machine, assign

from .rules import below_limit, step

counter = Machine(
    {
        "id": "counter",
        "initial": "counting",
        "context": {"count": 0},
        "states": {"counting": {"on": {"INC": {"guard": "belowLimit", "actions": "step"}}}},
    },
    actions={"step": assign({"count": lambda ctx, event: step(ctx["count"])})},
    guards={"belowLimit": below_limit},
)
