"""An app whose machine emits events and logs: a checkout that tells its UI a payment failed."""

from __future__ import annotations

from typing import Any

from statesync import Machine, emit, enqueue_actions, log

from statesync_server import Access, App


def on_failure(ctx: dict[str, Any], ev: dict[str, Any], enqueue: Any, check: Any) -> None:
    enqueue.assign({"failures": ctx["failures"] + 1})
    # `note` is made here, so it exists only in the emitted event (the test looks for it)
    enqueue.emit({"type": "paymentFailed", "reason": ev["reason"], "note": ev["reason"][::-1]})
    if check("retriesLeft"):
        enqueue.emit({"type": "retryAllowed"})


checkout = Machine(
    {
        "id": "checkout",
        "initial": "paying",
        "context": lambda input: {"owner": input["owner"], "failures": 0},
        "states": {
            "paying": {
                "on": {
                    "FAIL": {"actions": [enqueue_actions(on_failure),
                                         log(lambda ctx, ev: {"failures": ctx["failures"]}, "payment failed")]},
                    "PAID": {"target": "paid", "actions": emit({"type": "thanks"})},
                    "PING": {"actions": emit(lambda ctx, ev: {"type": "pong", "n": ev.get("n")})},
                },
            },
            "paid": {"type": "final"},
        },
    },
    guards={"retriesLeft": lambda ctx, ev: ctx["failures"] < 2},
)


def is_owner(access: Access) -> bool:
    return access.claims.get("sub") == access.context["owner"]


def may_read(access: Access) -> bool:
    return is_owner(access) or access.claims.get("role") in ("support", "auditor")


def shown(event: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    """Support sees why a payment failed; others only that it did (and a ping's number)."""
    if event["type"] == "paymentFailed" and reader.get("role") == "support":
        return {"reason": event["reason"]}
    if event["type"] == "pong":
        return {"n": event["n"]}
    return {}


app = App()
app.register("checkout", checkout, allow_read=may_read, allow_write=is_owner,
             public_event=shown, allow_read_history=lambda access: access.claims.get("role") == "auditor")
