"""`enqueue_actions(fn)`: XState's `enqueueActions`, actions chosen (and computed) at run time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .actions import (
    ActionImplementation,
    assign,
    cancel,
    create_instance,
    forward_to,
    raise_,
    send_parent,
    send_to,
    spawn_child,
    stop_child,
)
from .notify import emit, log
from .refs import SELF
from .sender import takes_sender

if TYPE_CHECKING:
    from .algorithm import Step


class Enqueuer:
    """The `enqueue` handed to an `enqueue_actions` function.

    `enqueue(action)` queues any action a config may name: a name (an implementation from
    `actions=`, or an effect), `{"type": name, "params": {...}}`, a function, or an action
    object. The helpers queue the built-in actions: `enqueue.assign(...)`,
    `enqueue.raise_(...)`, `enqueue.cancel(...)`, `enqueue.emit(...)`, `enqueue.log(...)`,
    `enqueue.send_to(...)`, `enqueue.send_parent(...)`, `enqueue.forward_to(...)`,
    `enqueue.spawn_child(...)`, `enqueue.stop_child(...)`, `enqueue.create_instance(...)`
    (same arguments as the functions).
    """

    __slots__ = ("actions",)

    def __init__(self) -> None:
        self.actions: list[Any] = []

    def __call__(self, action: Any) -> None:
        self.actions.append(action)

    def assign(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(assign(*args, **kwargs))

    def raise_(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(raise_(*args, **kwargs))

    def cancel(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(cancel(*args, **kwargs))

    def emit(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(emit(*args, **kwargs))

    def log(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(log(*args, **kwargs))

    def send_to(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(send_to(*args, **kwargs))

    def create_instance(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(create_instance(*args, **kwargs))

    def send_parent(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(send_parent(*args, **kwargs))

    def forward_to(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(forward_to(*args, **kwargs))

    def spawn_child(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(spawn_child(*args, **kwargs))

    def stop_child(self, *args: Any, **kwargs: Any) -> None:
        self.actions.append(stop_child(*args, **kwargs))


def _takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameter = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)


def _takes_params(fn: Callable[..., Any]) -> bool:
    """Whether `fn` accepts a fifth positional argument (the params); `sender` is a keyword."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.name in ("sender", "self"):
            continue
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 5


class EnqueueActions(ActionImplementation):
    """Run `fn(context, event, enqueue, check[, params][, sender=][, self=])`, then the actions
    it queued, in order. A keyword parameter `self` receives `SELF` (XState's `self`: the
    machine itself, e.g. `enqueue.send_to(self, event)`)."""

    type = "xstate.enqueueActions"
    binds_at_run_time = True

    def __init__(self, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError("enqueue_actions() takes a function (context, event, enqueue, check[, params])")
        self.fn = fn
        self._params = _takes_params(fn)
        self.reads_sender = takes_sender(fn)
        self._self = _takes_keyword(fn, "self")

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        machine = step.machine
        context = step.context
        enqueue = Enqueuer()

        def check(guard: Any) -> bool:
            return machine.check_guard(guard, context, event, step)

        args = (context, event, enqueue, check, params) if self._params else (context, event, enqueue, check)
        keywords: dict[str, Any] = {}
        if self.reads_sender:
            keywords["sender"] = step.sender
        if self._self:
            keywords["self"] = SELF
        self.fn(*args, **keywords)
        for action in enqueue.actions:
            machine.bind_action(action).run(step, event)


def enqueue_actions(fn: Callable[..., Any]) -> EnqueueActions:
    """Actions decided when the action runs (XState's `enqueueActions`).

    `fn(context, event, enqueue, check[, params])` queues actions with `enqueue` (see
    `Enqueuer`) and may test guards with `check(guard)` (a name, `{"type", "params"}`, a
    function or a helper such as `and_`). `check` sees the context as it was when `fn` was
    called; the queued actions then run in order, each seeing the context the previous ones
    left. Its return value is ignored.

        enqueue_actions(lambda ctx, ev, enqueue, check: (
            enqueue.assign({"count": 0}),
            check("isAdmin") and enqueue("notifyAdmin"),
        ))
    """
    return EnqueueActions(fn)
