"""An operator acts on failed work (the admin API, `statesync effects retry|dismiss`, the
inspector's buttons): retry a failed effect, or dismiss a failed effect or service so it
leaves the failures list. Both are idempotent (a second call changes nothing and says so)
and logged (`logs.operator_action`).

A retry runs the effect again with a fresh series of `Retry.max_attempts` attempts (its row's
`attempts` count again from 1) and the same idempotency key. A failed service is not retried:
its error was delivered to the instance (`xstate.error.actor.<id>`), which left the invoking
state; the machine decides whether to invoke it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import logs
from .effects import Job
from ..errors import ErrorCode, StatesyncError
from ..store.store import loads
from ..store.workrows import OutboxKey, key_text

if TYPE_CHECKING:
    from .workflow import Workflow

DISMISSED = "dismissed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did: `changed` is False when the row already was as asked."""

    row: Any
    changed: bool


async def _row(workflow: Workflow, key: OutboxKey) -> Any:
    row = await workflow.engine.store.work_row(key)
    if row is None or row.kind not in ("effect", "service"):
        raise StatesyncError(ErrorCode.NOT_FOUND, f"no effect or service {key_text(key)!r}")
    return row


async def retry(workflow: Workflow, key: OutboxKey) -> Outcome:
    """Run a failed effect again now; an effect already retried (pending, done) is left."""
    row = await _row(workflow, key)
    if row.kind == "service":
        raise StatesyncError(ErrorCode.EVENT_NOT_ACCEPTED, (
            f"{key_text(key)} is a service: its failure was delivered to the instance as "
            f"xstate.error.actor.{row.target}; send the machine an event that invokes it again"))
    if row.status != "failed":
        return Outcome(row, False)
    store, now = workflow.engine.store, workflow.engine.clock.time()
    values = {"status": "pending", "attempts": 0, "error": None, "next_at": now,
              "updated_at": now, "owner": store.node}
    if not await store.change_work(key, "failed", values):  # another operator was first
        return Outcome(await _row(workflow, key), False)
    logs.operator_action("retried", *key[:3], row.kind, row.name, row.attempts)
    retried = await _row(workflow, key)  # pending: read before it runs
    workflow.dispatch(Job(key, row.kind, row.name, row.target, loads(row.payload), 0, now))
    return Outcome(retried, True)


async def dismiss(workflow: Workflow, key: OutboxKey) -> Outcome:
    """Mark a failed effect or service dismissed: off the failures list, kept for history."""
    row = await _row(workflow, key)
    if row.status == DISMISSED:
        return Outcome(row, False)
    if row.status != "failed":
        raise StatesyncError(ErrorCode.EVENT_NOT_ACCEPTED,
                             f"only a failed {row.kind} is dismissed; {key_text(key)} is {row.status}")
    now = workflow.engine.clock.time()
    if not await workflow.engine.store.change_work(key, "failed", {"status": DISMISSED,
                                                                   "updated_at": now}):
        return await dismiss(workflow, key)  # changed meanwhile: answer for what it is now
    logs.operator_action("dismissed", *key[:3], row.kind, row.name, row.attempts)
    return Outcome(await _row(workflow, key), True)
