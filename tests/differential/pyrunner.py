"""Run differential cases through statesync, observing exactly what the XState runner observes.

statesync's ``transition`` is pure: delayed raises and cancels come back as actions. This module
plays the runtime: a simulated clock and scheduler that reproduce XState's ``SimulatedClock``
plus the actor system's scheduler (``tests/js/node_modules/xstate/dist``):

- ``schedule(id, event, delay)`` adds a timer started *now*; a second timer with the same id
  does not cancel the first, it only takes over the id (XState's ``timerMap`` overwrite).
- ``cancel(id)`` removes the timer currently holding the id.
- ``advance(ms)`` moves the clock to ``now + ms`` first, then fires the due timers by end time
  (ties: the earliest scheduled), exactly as ``SimulatedClock.flushTimeouts`` (see
  ``SimScheduler``). Timers scheduled while firing start at the *new* ``now``; so with
  ``advance(300)`` a 100 ms timer set by a 100 ms timer is not due. Timers scheduled by an event
  are never fired by that event, only by a later ``advance``.
- When the machine stops (status not ``active``) every pending timer is cancelled and later
  events are ignored (an actor that is done does not process events).
"""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import vocab

Observation = dict[str, Any]
CASE_TIMEOUT_S = 5


@dataclass
class _Timer:
    ident: str
    start: int
    delay: int
    event: dict[str, Any]


class TimerLoopError(RuntimeError):
    """Timers kept re-arming themselves within one ``advance`` (XState overflows its stack)."""


MAX_FLUSH_RESTARTS = 2000


@dataclass
class SimScheduler:
    """XState's ``SimulatedClock`` plus the actor system's scheduler, for one actor.

    A line-by-line port of ``SimulatedClock.flushTimeouts``: the due timers are fired from a
    list sorted once (by end time; ties in scheduling order); when a fired timer schedules or
    cancels anything and *another entry of that list follows*, the flush starts over with a
    fresh sort. So a timer re-armed by the last timer of the list is not fired in this flush.
    """

    now: int = 0
    _next: int = 0
    _timers: dict[int, _Timer] = field(default_factory=dict)
    _by_id: dict[str, int] = field(default_factory=dict)
    _flushing: bool = False
    _invalidated: bool = False

    def schedule(self, ident: str, event: dict[str, Any], delay: int) -> None:
        self._invalidated = self._flushing
        handle = self._next
        self._next += 1
        self._timers[handle] = _Timer(ident, self.now, delay, event)
        self._by_id[ident] = handle  # an older timer with this id keeps running

    def cancel(self, ident: str) -> None:
        handle = self._by_id.pop(ident, None)
        if handle is not None:
            self._invalidated = self._flushing
            self._timers.pop(handle, None)

    def cancel_all(self) -> None:
        for ident in list(self._by_id):
            self.cancel(ident)

    def advance(self, ms: int, fire: Callable[[dict[str, Any]], None]) -> None:
        """``clock.increment(ms)``: move the clock, then fire what is due."""
        self.now += ms
        restarts = 0
        while self._flush_once(fire):
            restarts += 1
            if restarts > MAX_FLUSH_RESTARTS:
                raise TimerLoopError("timers keep re-arming within one advance")

    def _flush_once(self, fire: Callable[[dict[str, Any]], None]) -> bool:
        """One pass of ``flushTimeouts``; ``True`` when it must start over."""
        self._flushing = True
        try:
            ordered = sorted(self._timers.items(), key=lambda kv: kv[1].start + kv[1].delay)
            for handle, timer in ordered:
                if self._invalidated:
                    self._invalidated = False
                    return True
                if self.now - timer.start >= timer.delay:
                    del self._timers[handle]
                    self._by_id.pop(timer.ident, None)  # even if a newer timer holds the id
                    fire(timer.event)
            return False
        finally:
            self._flushing = False


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x))


def _observe(snapshot: Any, effects: list[str], emitted: list[Any], logs: list[Any]) -> Observation:
    """What the XState runner reports; ``emitted``, ``logs`` and ``meta`` only when not empty."""
    observation = {
        "value": _jsonable(snapshot.value),
        "context": _jsonable(snapshot.context),
        "tags": sorted(snapshot.tags),
        "status": snapshot.status,
        "output": _jsonable(snapshot.output),
        "effects": effects,
    }
    meta = snapshot.get_meta()
    for key, value in (("emitted", emitted), ("logs", logs), ("meta", meta)):
        if value:
            observation[key] = _jsonable(value)
    return observation


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """Turn a hang (e.g. an endless macrostep) into an error instead of a stuck test run."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise _Timeout(f"statesync did not finish within {seconds}s (endless loop?)")

    try:
        old = signal.signal(signal.SIGALRM, on_alarm)
    except ValueError:  # not in the main thread: no limit
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class _Run:
    """One case in progress: machine, snapshot, scheduler."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        self.scheduler = SimScheduler()
        self.snapshot: Any = None
        self.emitted: list[Any] = []
        self.logs: list[Any] = []

    def _apply(self, result: tuple[Any, list[Any]], effects: list[str]) -> None:
        self.snapshot, actions = result
        for action in actions:
            kind = action.type
            if kind == "xstate.raise":
                params = action.params
                if params.get("delay") is not None:
                    self.scheduler.schedule(str(params.get("id")), params["event"], params["delay"])
            elif kind == "xstate.cancel":
                self.scheduler.cancel(str(action.params["id"]))
            elif kind == "xstate.emit":
                self.emitted.append(action.params["event"])
            elif kind == "xstate.log":
                label, value = action.params["label"], action.params["value"]
                self.logs.append([value] if label is None else [label, value])
            elif not kind.startswith("xstate."):
                effects.append(vocab.effect_record(kind, action))
        if self.snapshot.status != "active":
            self.scheduler.cancel_all()

    def start(self, input: Any) -> Observation:
        effects: list[str] = []
        self.emitted, self.logs = [], []
        self._apply(self.machine.initial_transition(input=input), effects)
        return _observe(self.snapshot, effects, self.emitted, self.logs)

    def step(self, step: dict[str, Any]) -> Observation:
        effects: list[str] = []
        self.emitted, self.logs = [], []
        if "advance" in step:

            def fire(event: dict[str, Any]) -> None:
                if self.snapshot.status == "active":
                    self._apply(self.machine.transition(self.snapshot, event), effects)

            self.scheduler.advance(step["advance"], fire)
        elif self.snapshot.status == "active":
            self._apply(self.machine.transition(self.snapshot, dict(step)), effects)
        return _observe(self.snapshot, effects, self.emitted, self.logs)


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run one case; the result has the same shape as the XState runner's."""
    try:
        machine = vocab.build_machine(case)
    except Exception as exc:  # noqa: BLE001 - reported, compared as "both failed"
        return {"error": f"definition: {type(exc).__name__}: {exc}"}
    run = _Run(machine)
    observations: list[Observation] = []
    try:
        with _time_limit(CASE_TIMEOUT_S):
            observations.append(run.start(case.get("input")))
            for step in case.get("steps", []):
                observations.append(run.step(step))
    except Exception as exc:  # noqa: BLE001 - an error observation, like the actor's
        observations.append({"error": f"{type(exc).__name__}: {exc}"})
    return {"observations": observations}
