"""The machine of tests/e2e/test_sdk_emit.py, run in the browser too: a checkout that emits."""

from __future__ import annotations

from statesync import Machine, assign, emit

checkout = Machine(
    {
        "id": "checkout",
        "initial": "paying",
        "context": {"failures": 0},
        "states": {
            "paying": {
                "on": {
                    "FAIL": {"actions": [assign(lambda ctx, ev: {"failures": ctx["failures"] + 1}),
                                         emit(lambda ctx, ev: {"type": "paymentFailed", "reason": ev["reason"],
                                                               "failures": ctx["failures"]})]},
                    "PING": {"actions": emit({"type": "pong"})},
                },
            },
        },
    }
)
