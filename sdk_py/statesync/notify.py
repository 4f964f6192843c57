"""`emit(event)` and `log(...)`: actions that tell the world outside the instance something.

Neither changes the snapshot. Both come back from `transition` as actions for the runtime:
`xstate.emit` (`{"event": {...}}`, delivered to whoever listens with `handle.on(type, ...)`;
never stored) and `xstate.log` (`{"label": str | None, "value": any}`, written to the log).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._callables import SENDER, call, call_mode
from .actions import Action, ActionImplementation

if TYPE_CHECKING:
    from .algorithm import Step

EMIT = "xstate.emit"
LOG = "xstate.log"

EventOrFn = Mapping[str, Any] | Callable[..., Mapping[str, Any]]


class Emit(ActionImplementation):
    """Emit an event to the instance's listeners (see `emit`)."""

    type = EMIT

    def __init__(self, event: EventOrFn) -> None:
        if not callable(event) and not (isinstance(event, Mapping) and isinstance(event.get("type"), str)):
            raise TypeError('emit() takes an event dict with a "type", or a function returning one')
        self.event = event
        self._mode = call_mode(event)
        self.reads_sender = bool(self._mode & SENDER)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        if callable(self.event):
            emitted = call(self.event, self._mode, step.context, event, params, step.sender)
            if not isinstance(emitted, Mapping) or not isinstance(emitted.get("type"), str):
                raise TypeError(f'emit() function must return an event dict with a string "type", got {emitted!r}')
        else:
            emitted = self.event
        step.actions.append(Action(EMIT, {"event": dict(emitted)}, event, step.context))

    def to_config(self) -> Any:
        return {"type": self.type} if callable(self.event) else {"type": self.type, "event": dict(self.event)}


def _context_and_event(context: Any, event: Any) -> dict[str, Any]:
    return {"context": context, "event": event}


class Log(ActionImplementation):
    """Write a value to the runtime's log (see `log`)."""

    type = LOG

    def __init__(self, value: Any, label: str | None) -> None:
        if label is not None and not isinstance(label, str):
            raise TypeError("log() label must be a string")
        self.value = value
        self.label = label
        self._mode = call_mode(value)
        self.reads_sender = bool(self._mode & SENDER)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        value = self.value
        if callable(value):
            value = call(value, self._mode, step.context, event, params, step.sender)
        step.actions.append(Action(LOG, {"label": self.label, "value": value}, event, step.context))

    def to_config(self) -> Any:
        return {"type": self.type} if self.label is None else {"type": self.type, "label": self.label}


def emit(event: EventOrFn) -> Emit:
    """Emit `event` (a dict with `"type"`, or `fn(context, event[, params])` returning one).

    XState's `emit`: the event is not sent to this machine; the runtime hands it to the
    instance's listeners (the server: to its authorized subscribers; clients listen with
    `handle.on(type, listener)`). Returned by `transition` as an `xstate.emit` action.
    """
    return Emit(event)


def log(value: Any = _context_and_event, label: str | None = None) -> Log:
    """Log `value` (or `fn(context, event[, params])`'s result) with an optional `label`.

    XState's `log`; the default value is `{"context": ..., "event": ...}`. Returned by
    `transition` as an `xstate.log` action; the server writes it to the `statesync.machine`
    logger with the instance's identity.
    """
    return Log(value, label)
