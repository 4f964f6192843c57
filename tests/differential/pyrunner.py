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

Child machines (a case's ``actors``) run as XState's actor system runs them (``_Child``): each
actor has a mailbox (an event sent to a busy or not yet started actor waits in it); effects
run during a transition, while spawns, starts, ``send_to`` / ``send_parent`` relays and stops
are deferred to after it, in order; a child that ends sends ``xstate.done.actor.<id>`` (or
``xstate.error.actor.<id>``) to its parent after its deferred actions; a child spawned with
``syncSnapshot`` (or invoked with ``onSnapshot``) sends ``xstate.snapshot.<id>`` after each of
its steps that leaves it active. ``send_to`` reaches a child, the actor itself or one of the
system registry (``systemId``); a delayed one is a timer of the sender. Timers in children are
not modelled (a case using them is an error).
"""

from __future__ import annotations

import json
import signal
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import statesync

from . import vocab

Observation = dict[str, Any]
CASE_TIMEOUT_S = 5


@dataclass
class _Timer:
    ident: str
    start: int
    delay: int
    event: dict[str, Any]
    target: Any = None  # the actor a delayed send_to goes to (None: the root itself)


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

    def schedule(self, ident: str, event: dict[str, Any], delay: int, target: Any = None) -> None:
        self._invalidated = self._flushing
        handle = self._next
        self._next += 1
        self._timers[handle] = _Timer(ident, self.now, delay, event, target)
        self._by_id[ident] = handle  # an older timer with this id keeps running

    def cancel(self, ident: str) -> None:
        handle = self._by_id.pop(ident, None)
        if handle is not None:
            self._invalidated = self._flushing
            self._timers.pop(handle, None)

    def cancel_all(self) -> None:
        for ident in list(self._by_id):
            self.cancel(ident)

    def advance(self, ms: int, fire: Callable[[_Timer], None]) -> None:
        """``clock.increment(ms)``: move the clock, then fire what is due."""
        self.now += ms
        restarts = 0
        while self._flush_once(fire):
            restarts += 1
            if restarts > MAX_FLUSH_RESTARTS:
                raise TimerLoopError("timers keep re-arming within one advance")

    def _flush_once(self, fire: Callable[[_Timer], None]) -> bool:
        """One pass of ``flushTimeouts``; ``True`` when it must start over."""
        self._flushing = True
        try:
            # Ties in scheduling order: the handles count up (dicts keep no order in MicroPython).
            ordered = sorted(self._timers.items(), key=lambda kv: (kv[1].start + kv[1].delay, kv[0]))
            for handle, timer in ordered:
                if self._invalidated:
                    self._invalidated = False
                    return True
                if self.now - timer.start >= timer.delay:
                    del self._timers[handle]
                    self._by_id.pop(timer.ident, None)  # even if a newer timer holds the id
                    fire(timer)
            return False
        finally:
            self._flushing = False


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x))


def _observe_children(actors: dict[str, _Child], snapshot: Any) -> dict[str, Any]:
    """``{id: {value, context, status, output[, children]}}`` of the machine's running children."""
    found = {}
    for ident in snapshot.children:
        child = actors.get(ident)
        if child is None or child.stopped or child.snapshot is None:
            continue
        entry = {"value": _jsonable(child.snapshot.value), "context": _jsonable(child.snapshot.context),
                 "status": child.snapshot.status, "output": _jsonable(child.snapshot.output)}
        nested = _observe_children(child.children, child.snapshot)
        if nested:
            entry["children"] = nested
        found[ident] = entry
    return found


def _answers(snapshot: Any, events: list[dict[str, Any]] | None) -> dict[str, Any]:
    """``{"can": {type: snapshot.can(event)}}`` for a case's ``can`` events (``"throws"``
    when a guard raises), ``{}`` without them."""
    if not events:
        return {}
    can: dict[str, Any] = {}
    for event in events:
        try:
            can[event["type"]] = snapshot.can(event)
        except Exception:  # noqa: BLE001 - as the XState runner records a throwing guard
            can[event["type"]] = "throws"
    return {"can": can}


def _errored(snapshot: Any, error: Any) -> Any:
    """The snapshot as it was before a failed step, with status ``error`` (XState's actor)."""
    return statesync.Snapshot(snapshot.machine, snapshot._nodes, snapshot.context, "error", None, error,
                              snapshot.history, snapshot.children)


def _observe(snapshot: Any, effects: list[str], emitted: list[Any], logs: list[Any],
             children: dict[str, Any] | None = None, can: list[dict[str, Any]] | None = None) -> Observation:
    """What the XState runner reports; ``emitted``, ``logs``, ``meta`` and ``children`` only
    when not empty, ``can`` for the case's ``can`` events."""
    observation = {
        "value": _jsonable(snapshot.value),
        "context": _jsonable(snapshot.context),
        "tags": sorted(snapshot.tags),
        "status": snapshot.status,
        "output": _jsonable(snapshot.output),
        "effects": effects,
    }
    if snapshot.status == "error":  # as the XState runner reports an actor in error
        return {"error": str(snapshot.error), **_answers(snapshot, can)}
    meta = snapshot.get_meta()
    for key, value in (("emitted", emitted), ("logs", logs), ("meta", meta), ("children", children)):
        if value:
            observation[key] = _jsonable(value)
    observation.update(_answers(snapshot, can))
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


_CHILD_ACTIONS = frozenset({"xstate.spawnChild", "xstate.stopChild", "xstate.sendTo", "xstate.sendParent"})


class _Child:
    """An actor of the system: the root (`_Run`) or a child machine, with its mailbox."""

    def __init__(self, machine: Any, parent: _Child | None, ident: str | None, run: _Run,
                 sync: bool = False, system_id: str | None = None) -> None:
        self.machine, self.parent, self.ident, self.run = machine, parent, ident, run
        self.sync = sync  # syncSnapshot: the parent gets xstate.snapshot.<id> while it is active
        self.system_id = system_id
        if system_id is not None:  # registered when created, as XState's createActor
            if run.system.get(system_id, self) is not self:
                raise RuntimeError(f"Actor with system ID '{system_id}' already exists.")
            run.system[system_id] = self
        self.snapshot: Any = None
        self.children: dict[str, _Child] = {}
        self.mailbox: deque[dict[str, Any]] = deque()
        self.busy = True  # until started
        self.stopped = False

    def start(self, input: Any) -> None:
        self.execute(self.machine.initial_transition(input=input), initial=True)
        self.busy = False
        self.drain()

    def send(self, event: dict[str, Any]) -> None:
        if self.stopped:
            return
        self.mailbox.append(event)
        if not self.busy:
            self.drain()

    def drain(self) -> None:
        while self.mailbox and not self.stopped:
            event = self.mailbox.popleft()
            if self.snapshot.status != "active":
                continue
            self.busy = True
            try:
                self.execute(self.transition(event), initial=False)
            finally:
                self.busy = False

    def transition(self, event: dict[str, Any]) -> tuple[Any, list[Any]]:
        if self.parent is None:
            return self.machine.transition(self.snapshot, event)
        try:
            return self.machine.transition(self.snapshot, event)
        except Exception as exc:  # noqa: BLE001 - the child errors; its parent hears of it
            return _errored(self.snapshot, str(exc)), []

    def execute(self, result: tuple[Any, list[Any]], initial: bool) -> None:
        """Effects now (at start: in order with the rest), then the deferred ones. The actor a
        spawn, stop or send names is found now, as XState resolves it with the action (a
        later spawn under the same id does not receive what was meant for the first)."""
        self.snapshot, actions = result
        deferred: list[tuple[Any, Any]] = []
        for action in actions:
            kind, params = action.type, action.params
            if kind == "xstate.spawnChild":
                logic = self.machine.actors.get(params["src"])
                child = None
                if isinstance(logic, statesync.Machine):
                    child = _Child(logic, self, params["id"], self.run, bool(params.get("syncSnapshot")),
                                   params.get("systemId"))
                    self.children[params["id"]] = child
                deferred.append((action, child))
            elif (kind in ("xstate.sendTo", "xstate.sendParent") and "delay" in params and not initial
                  and self._target_of(action) is not None):
                # scheduled in order with delayed raises and cancels (XState defers them all
                # alike), so timers due at the same time fire in the order they were set
                self._send_to(self._target_of(action), params)
            elif kind in _CHILD_ACTIONS or initial:
                deferred.append((action, self._target_of(action)))
            else:
                self.run.carry_out(self, action)
        for action, actor in deferred:
            self._deferred(action, actor)
        if self.sync and self.snapshot.status == "active":
            self.parent.send({"type": f"xstate.snapshot.{self.ident}", "snapshot": _jsonable({
                "value": self.snapshot.value, "context": self.snapshot.context, "status": "active"})})
        if self.snapshot.status != "active":
            if self.parent is None:
                self.run.scheduler.cancel_all()
            else:
                self._ended()

    def _target_of(self, action: Any) -> Any:
        """The actor a stop or send names when the action runs (None: not known yet)."""
        kind, params = action.type, action.params
        if kind == "xstate.sendParent":
            return self.parent
        if kind == "xstate.sendTo" and params.get("to") == "self":
            return self
        if kind == "xstate.sendTo" and params.get("to") == "system":
            return self.run.system.get(params["id"], self)  # XState: undefined sends to itself
        if kind in ("xstate.sendTo", "xstate.stopChild"):
            return self.children.get(params["id"])
        return None

    def _deferred(self, action: Any, actor: Any) -> None:
        kind, params = action.type, action.params
        if kind == "xstate.spawnChild":
            if actor is not None and not actor.stopped:
                actor.start(params.get("input"))
        elif kind == "xstate.stopChild":
            if actor is not None:
                if self.children.get(params["id"]) is actor:
                    del self.children[params["id"]]
                actor.stop()
        elif kind == "xstate.sendTo":
            self._send_to(actor or self.children.get(params["id"]), params)  # a deferred invoke id
        elif kind == "xstate.sendParent":
            if self.parent is None:
                raise RuntimeError("Unable to send event to actor '#_parent': it has no parent")
            self._send_to(self.parent, params)
        else:
            self.run.carry_out(self, action)

    def _send_to(self, target: _Child | None, params: dict[str, Any]) -> None:
        """Relay now, or with `delay` schedule it (the root's timers only are modelled)."""
        if "delay" not in params:
            if target is not None:
                target.send(params["event"])
            return
        if self.parent is not None:
            raise NotImplementedError("timers in child actors are not modelled by this runner")
        ident = params.get("sendId")
        if ident is None:
            ident = f"send.{self.run.scheduler._next}"  # XState: a random id
        self.run.scheduler.schedule(str(ident), params["event"], params["delay"], target)

    def stop(self) -> None:
        if self.system_id is not None and self.run.system.get(self.system_id) is self:
            del self.run.system[self.system_id]
        self.stopped = True
        self.mailbox.clear()
        for child in self.children.values():
            child.stop()

    def _ended(self) -> None:
        if self.system_id is not None and self.run.system.get(self.system_id) is self:
            del self.run.system[self.system_id]
        for child in self.children.values():
            child.stop()
        snapshot, ident = self.snapshot, self.ident  # it stays among the parent's children
        if snapshot.status == "done":
            self.parent.send({"type": f"xstate.done.actor.{ident}", "output": snapshot.output, "actorId": ident})
        else:
            self.parent.send({"type": f"xstate.error.actor.{ident}", "error": snapshot.error, "actorId": ident})


class _Run:
    """One case in progress: the root actor, its scheduler, what it reported."""

    def __init__(self, machine: Any, can: list[dict[str, Any]] | None = None) -> None:
        self.machine = machine
        self.can = can
        self.scheduler = SimScheduler()
        self.system: dict[str, _Child] = {}  # systemId -> actor (XState's system registry)
        self.root = _Child(machine, None, None, self)
        self.emitted: list[Any] = []
        self.logs: list[Any] = []
        self.effects: list[str] = []

    @property
    def snapshot(self) -> Any:
        return self.root.snapshot

    def carry_out(self, actor: _Child, action: Any) -> None:
        """A timer, emit, log or effect action of `actor` (timers and emits: the root's only)."""
        kind = action.type
        if kind in ("xstate.raise", "xstate.cancel") and actor.parent is not None:
            if kind == "xstate.raise" and action.params.get("delay") is None:
                return
            raise NotImplementedError("timers in child actors are not modelled by this runner")
        if kind == "xstate.emit" and actor.parent is not None:
            return  # heard by the child's own listeners: nobody here
        self._apply_one(action, self.effects)

    def _observe(self) -> Observation:
        return _observe(self.snapshot, self.effects, self.emitted, self.logs,
                        _observe_children(self.root.children, self.snapshot), self.can)

    def failed(self, exc: Exception) -> Observation:
        """The observation of a step that raised: the error, and ``can`` asked of the
        snapshot from before the step with status ``error`` (as XState keeps it)."""
        error = f"{type(exc).__name__}: {exc}"
        if self.snapshot is None or isinstance(exc, statesync.InfiniteLoopError):
            return {"error": error}
        return {"error": error, **_answers(_errored(self.snapshot, error), self.can)}

    def _apply_one(self, action: Any, effects: list[str]) -> None:
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

    def start(self, input: Any) -> Observation:
        self.effects, self.emitted, self.logs = [], [], []
        self.root.start(input)
        return self._observe()

    def step(self, step: dict[str, Any]) -> Observation:
        self.effects, self.emitted, self.logs = [], [], []
        if "advance" in step:

            def fire(timer: _Timer) -> None:
                if timer.target is not None:
                    timer.target.send(timer.event)
                elif self.snapshot.status == "active":
                    self.root.send(timer.event)

            self.scheduler.advance(step["advance"], fire)
        elif self.snapshot.status == "active":
            self.root.send(dict(step))
        return self._observe()


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """Run one case; the result has the same shape as the XState runner's."""
    try:
        machine = vocab.build_machine(case)
    except Exception as exc:  # noqa: BLE001 - reported, compared as "both failed"
        return {"error": f"definition: {type(exc).__name__}: {exc}"}
    run = _Run(machine, case.get("can"))
    observations: list[Observation] = []
    try:
        with _time_limit(CASE_TIMEOUT_S):
            observations.append(run.start(case.get("input")))
            for step in case.get("steps", []):
                observations.append(run.step(step))
    except Exception as exc:  # noqa: BLE001 - an error observation, like the actor's
        observations.append(run.failed(exc))
    return {"observations": observations}
