"""Advancing a server's `ManualClock`: Temporal-style time skipping for tests and scripts.

`advance(engine, seconds)` moves the clock forward in steps, from one due time to the next
(timers, effect retries, effects scheduled for later), and at each step waits until the server
has settled before it takes the next: no operation queued or being applied, no effect or
service running, no message waiting to be delivered, no timer due and not yet handled. So
everything due within the skipped time happens in due order, at its exact due time (the event
log's `at`), and what it causes happens before anything due later. It returns once the server
has settled at the new time.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..workflow.clock import ManualClock
from ..errors import ErrorCode, StatesyncError

if TYPE_CHECKING:
    from .engine import Engine

SETTLE_TIMEOUT = 60.0
"""Wall-clock seconds one step may take to settle (an effect stuck on real I/O) before
`advance` gives up with an error."""
_POLL = 0.001
_EPSILON = 1e-6
"""Due times this close past the target count as within it: `advance(0.1)` twice reaches
what is due 0.2 s after the start, although 0.1 + 0.1 != 0.2 in floating point."""


@dataclass(frozen=True, slots=True)
class Advanced:
    """What an `advance` did: the clock's time before and after, and the due times it stopped at."""

    start: float
    now: float
    steps: list[float]


def manual_clock(engine: Engine) -> ManualClock:
    clock = engine.clock
    if not isinstance(clock, ManualClock):
        raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                             "the server runs on the system clock: start it with --clock manual")
    return clock


def is_settled(engine: Engine) -> bool:
    """Nothing is runnable at the clock's current time."""
    workflow = engine.workflow
    return not (manual_clock(engine).waking or engine.busy or workflow.runner.busy
                or workflow.messenger.pending or workflow.scheduler.waking
                or workflow.scheduler.has_due())


async def settle(engine: Engine, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait (polling, wall clock) until the server is settled twice in a row with the event
    loop run in between, so work that a finished task hands on is seen."""
    deadline = time.monotonic() + timeout
    calm = 0
    while calm < 2:
        await asyncio.sleep(_POLL if calm == 0 else 0)
        calm = calm + 1 if is_settled(engine) else 0
        if time.monotonic() > deadline:
            workflow = engine.workflow
            raise StatesyncError(
                ErrorCode.INTERNAL,
                f"the server did not settle within {timeout:g} s of wall-clock time "
                f"({workflow.runner.busy} effects running, {workflow.messenger.pending} "
                "messages queued): an effect waiting on something real?")


async def advance(engine: Engine, seconds: float) -> Advanced:
    """Skip `seconds` of virtual time (see the module docstring)."""
    if seconds < 0:
        raise StatesyncError(ErrorCode.INVALID_MESSAGE, "the clock cannot go backwards")
    clock = manual_clock(engine)
    start = clock.time()
    target = start + seconds
    steps: list[float] = []
    await settle(engine)
    while True:
        due = clock.next_due()
        if due is None or due > target + _EPSILON:
            break
        if due > clock.time():
            steps.append(due)
        clock.set(due)
        await settle(engine)
    clock.set(target)
    await settle(engine)
    await engine.store.record_clock(clock.time())  # what the CLI's views count from
    return Advanced(start, clock.time(), steps)
