"""Built-in action creators and the `Action` descriptions returned to the runtime.

An action in a config is a name, `{"type": name, "params": {...}}`, a callable, or one of the
objects made by `assign`, `raise_` and `cancel`. Inside a macrostep, `assign` and immediate
`raise_` are applied; everything the outside world must do (delayed raises, cancels, starting and
stopping invoked services, and *effects*: named actions with no implementation) comes back as
`Action` descriptions, in execution order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._callables import PLAIN, SENDER, call, call_mode, name_of
from .errors import StatesyncError
from .refs import actor_ref

if TYPE_CHECKING:
    from .algorithm import Step

RAISE = "xstate.raise"
CANCEL = "xstate.cancel"
SPAWN_CHILD = "xstate.spawnChild"
STOP_CHILD = "xstate.stopChild"
SEND_TO = "statesync.sendTo"
CREATE_INSTANCE = "statesync.createInstance"
SEND_PARENT = "xstate.sendParent"
SEND_TO_CHILD = "xstate.sendTo"
_NO_EVENT: Any = object()


@dataclass(frozen=True, slots=True)
class Action:
    """Something the runtime must carry out after a transition.

    `type` is `xstate.raise` (delayed event), `xstate.cancel`, `xstate.spawnChild`,
    `xstate.stopChild`, or the name of an effect. `event` and `context` are the event being
    processed and the context at the moment the action ran.
    """

    type: str
    params: Any = None
    event: Mapping[str, Any] | None = None
    context: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: `{"type", "params", "event", "context"}`."""
        return {"type": self.type, "params": self.params, "event": self.event, "context": self.context}


def _value(value: Any, mode: int, step: Step, event: Any, params: Any) -> Any:
    """A config value, or the result of calling it when it is a function of (context, event)."""
    return call(value, mode, step.context, event, params, step.sender) if callable(value) else value


def _delay_of(delay: Any, mode: int, step: Step, event: Any, params: Any) -> Any:
    """Milliseconds of a `delay` option: a number, a named delay (`delays=`), or a function."""
    if isinstance(delay, str):
        return step.machine.resolve_delay(delay, step.context, event, params, step.sender)
    if callable(delay):
        return call(delay, mode, step.context, event, params, step.sender)
    return delay


def _reads_sender(*modes: int) -> bool:
    return any(mode & SENDER for mode in modes)


class ActionImplementation:
    """Base of everything that can run inside a macrostep."""

    type = "(action)"
    reads_sender = False
    """Whether one of its functions declares `sender` (the server then checkpoints every
    transition, since a replay of the log does not know the sender)."""

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        raise NotImplementedError

    def to_config(self) -> Any:
        """How `Machine.to_config()` names this implementation when it is inline."""
        return {"type": self.type}


class Assign(ActionImplementation):
    """Merge new values into the context (see `assign`)."""

    type = "xstate.assign"

    def __init__(self, assignment: Callable[..., Mapping[str, Any]] | Mapping[str, Any]) -> None:
        if callable(assignment):
            self._fn: Callable[..., Mapping[str, Any]] | None = assignment
            self._fn_mode = call_mode(assignment)
            self._fields: tuple[tuple[str, Any, int], ...] = ()
        elif isinstance(assignment, Mapping):
            self._fn = None
            self._fn_mode = PLAIN
            self._fields = tuple((key, value, call_mode(value)) for key, value in assignment.items())
        else:
            raise TypeError("assign() takes a function (context, event) -> dict or a dict of values/functions")
        self.reads_sender = _reads_sender(self._fn_mode, *(mode for _k, _v, mode in self._fields))

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        context = step.context
        if self._fn is not None:
            update = call(self._fn, self._fn_mode, context, event, params, step.sender)
            if not isinstance(update, Mapping):
                raise TypeError(f"assign function must return a dict, got {type(update).__name__}")
        else:
            update = {key: _value(value, mode, step, event, params) for key, value, mode in self._fields}
        step.context = {**context, **update}
        step.mutations += 1


class Raise(ActionImplementation):
    """Send an event to this machine: now (internal queue) or after a delay (see `raise_`)."""

    type = RAISE

    def __init__(self, event: Mapping[str, Any] | Callable[..., Mapping[str, Any]], id: str | None, delay: Any) -> None:
        if isinstance(event, str):
            raise TypeError(f'raise_() takes an event dict, e.g. raise_({{"type": "{event}"}})')
        if not callable(event) and not (isinstance(event, Mapping) and isinstance(event.get("type"), str)):
            raise TypeError('raise_() takes an event dict with a "type", or a function returning one')
        self.event = event
        self.id = id
        self.delay = delay
        self._event_mode = call_mode(event)
        self._delay_mode = call_mode(delay)
        self.reads_sender = _reads_sender(self._event_mode, self._delay_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        context = step.context
        if callable(self.event):
            raised = dict(call(self.event, self._event_mode, context, event, params, step.sender))
        else:
            raised = dict(self.event)
        delay = _delay_of(self.delay, self._delay_mode, step, event, params)
        if delay is None:
            step.queue.append(raised)
        else:
            step.actions.append(Action(RAISE, {"event": raised, "id": self.id, "delay": delay}, event, context))

    def to_config(self) -> Any:
        out: dict[str, Any] = {"type": self.type}
        if not callable(self.event):
            out["event"] = dict(self.event)
        if self.id is not None:
            out["id"] = self.id
        if self.delay is not None and not callable(self.delay):
            out["delay"] = self.delay
        return out


class Cancel(ActionImplementation):
    """Cancel a delayed raise by its id (see `cancel`)."""

    type = CANCEL

    def __init__(self, send_id: str | Callable[..., str]) -> None:
        self.send_id = send_id
        self._mode = call_mode(send_id)
        self.reads_sender = _reads_sender(self._mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        send_id = _value(self.send_id, self._mode, step, event, params)
        step.actions.append(Action(CANCEL, {"id": send_id}, event, step.context))

    def to_config(self) -> Any:
        return {"type": self.type} if callable(self.send_id) else {"type": self.type, "id": self.send_id}


class Effect(ActionImplementation):
    """A named action with no implementation: carried out by the runtime."""

    def __init__(self, name: str) -> None:
        self.type = name

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        step.actions.append(Action(self.type, {} if params is None else params, event, step.context))


class Call(ActionImplementation):
    """A pure Python action `fn(context, event[, params][, sender=])`; its return value is ignored."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None) -> None:
        self.fn = fn
        self.type = name or name_of(fn)
        self._mode = call_mode(fn)
        self.reads_sender = _reads_sender(self._mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        call(self.fn, self._mode, step.context, event, params, step.sender)


class SpawnChild(ActionImplementation):
    """Start a child actor: an invoked one (on entry to a state with `invoke`) or a spawned
    one (`spawn_child`). The id may be `fn(context, event)`."""

    type = SPAWN_CHILD

    def __init__(self, child_id: str | Callable[..., str], src: str, input: Any,
                 system_id: str | None = None, sync_snapshot: bool = False) -> None:
        self.child_id = child_id
        self.src = src
        self.input = input
        self.system_id = system_id
        self.sync_snapshot = sync_snapshot
        self._mode = call_mode(input)
        self._id_mode = call_mode(child_id)
        self.reads_sender = _reads_sender(self._mode, self._id_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        context = step.context
        child_id = _value(self.child_id, self._id_mode, step, event, params)
        if not isinstance(child_id, str) or not child_id:
            raise TypeError(f"spawn_child(): the id must be a non-empty string, got {child_id!r}")
        value = _value(self.input, self._mode, step, event, params)
        step.children = {**step.children, child_id: self.src}
        step.mutations += 1
        spawned = {"id": child_id, "src": self.src, "input": value}
        if self.system_id is not None:
            spawned["systemId"] = self.system_id
        if self.sync_snapshot:
            spawned["syncSnapshot"] = True
        step.actions.append(Action(SPAWN_CHILD, spawned, event, context))


class StopChild(ActionImplementation):
    """Stop a child actor (on exit from its invoking state, or `stop_child`)."""

    type = STOP_CHILD

    def __init__(self, child_id: str | Callable[..., str]) -> None:
        self.child_id = child_id
        self._mode = call_mode(child_id)
        self.reads_sender = _reads_sender(self._mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        child_id = _value(self.child_id, self._mode, step, event, params)
        step.mutations += 1
        if child_id in step.children:
            step.children = {k: v for k, v in step.children.items() if k != child_id}
            step.actions.append(Action(STOP_CHILD, {"id": child_id}, event, step.context))


class UnknownActorError(StatesyncError):
    """`send_to(child_id, ...)` / `forward_to(child_id)` named no child of the machine."""


def _event_of(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
        raise TypeError(f'{what} event must be a dict with a string "type", got {value!r}')
    return dict(value)


class SendParent(ActionImplementation):
    """Send an event to the actor that invoked or spawned this one (see `send_parent`)."""

    type = SEND_PARENT

    def __init__(self, event: Mapping[str, Any] | Callable[..., Mapping[str, Any]], delay: Any = None,
                 send_id: str | None = None) -> None:
        if isinstance(event, str):
            raise TypeError(f'send_parent() takes an event dict, e.g. send_parent({{"type": "{event}"}})')
        self.event = event
        self.delay = delay
        self.send_id = send_id
        self._mode = call_mode(event)
        self._delay_mode = call_mode(delay)
        self.reads_sender = _reads_sender(self._mode, self._delay_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        sent = _event_of(_value(self.event, self._mode, step, event, params), "send_parent()")
        out: dict[str, Any] = {"event": sent}
        delay = _delay_of(self.delay, self._delay_mode, step, event, params)
        if delay is not None:
            out["delay"] = delay
            out["sendId"] = self.send_id
        step.actions.append(Action(SEND_PARENT, out, event, step.context))

    def to_config(self) -> Any:
        return {"type": self.type} if callable(self.event) else {"type": self.type, "event": dict(self.event)}


class SendToChild(ActionImplementation):
    """Send an event to an actor: a child by its id, the machine itself, its parent, or one
    the system knows (see `send_to` with two arguments, `forward_to`), now or after a delay.

    As in XState, a child id that names no current child raises `UnknownActorError` (the
    transition fails)."""

    type = SEND_TO_CHILD

    def __init__(self, target: Any, event: Mapping[str, Any] | Callable[..., Mapping[str, Any]] | None,
                 delay: Any = None, send_id: str | None = None) -> None:
        if isinstance(event, str):
            raise TypeError(f'send_to() takes an event dict, e.g. send_to(id, {{"type": "{event}"}})')
        self.target = target
        self.event = event  # None: forward the event being processed
        self.delay = delay
        self.send_id = send_id
        self._target_mode = call_mode(target)
        self._event_mode = call_mode(event)
        self._delay_mode = call_mode(delay)
        self.reads_sender = _reads_sender(self._target_mode, self._event_mode, self._delay_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        target = self.target
        if callable(target):
            target = call(target, self._target_mode, step.context, event, params, step.sender)
        ref = actor_ref(target)
        sent = event if self.event is None else _value(self.event, self._event_mode, step, event, params)
        sent = _event_of(sent, "send_to()")
        delay = _delay_of(self.delay, self._delay_mode, step, event, params)
        if ref.kind == "child" and ref.id not in step.children and not _spawned_on_entry(step, ref.id):
            raise UnknownActorError(
                f"Unable to send event to actor {ref.id!r} from machine {step.machine.id!r}.")
        if ref.kind == "parent":
            kind, out = SEND_PARENT, {"event": sent}
        elif ref.kind == "child":
            kind, out = SEND_TO_CHILD, {"id": ref.id, "event": sent}
        else:
            kind, out = SEND_TO_CHILD, {"to": ref.kind, "id": ref.id, "event": sent}
        if delay is not None:
            out["delay"] = delay
            out["sendId"] = self.send_id
        step.actions.append(Action(kind, out, event, step.context))

    def to_config(self) -> Any:
        out: dict[str, Any] = {"type": self.type}
        if isinstance(self.target, str):
            out["id"] = self.target
        return out


def _spawned_on_entry(step: Step, child_id: Any) -> bool:
    entering = step.entering
    return entering is not None and any(invoke["id"] == child_id for invoke in entering.invoke)


class SendTo(ActionImplementation):
    """Send an event to another machine instance (see `send_to`)."""

    type = SEND_TO

    def __init__(self, machine: str, instance: str | Callable[..., str], event: Mapping[str, Any] | Callable[..., Mapping[str, Any]]) -> None:
        if not isinstance(machine, str) or not machine:
            raise TypeError("send_to() needs the target machine name")
        self.machine = machine
        self.instance = instance
        self.event = event
        self._instance_mode = call_mode(instance)
        self._event_mode = call_mode(event)
        self.reads_sender = _reads_sender(self._instance_mode, self._event_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        context = step.context
        instance = _value(self.instance, self._instance_mode, step, event, params)
        sent = _value(self.event, self._event_mode, step, event, params)
        if not isinstance(sent, Mapping) or not isinstance(sent.get("type"), str):
            raise TypeError(f'send_to() event must be a dict with a string "type", got {sent!r}')
        params_out = {"machine": self.machine, "instance": instance, "event": dict(sent)}
        step.actions.append(Action(SEND_TO, params_out, event, context))

    def to_config(self) -> Any:
        return {"type": self.type, "machine": self.machine}


class CreateInstance(ActionImplementation):
    """Create another machine instance (see `create_instance`)."""

    type = CREATE_INSTANCE

    def __init__(self, machine: str, instance: str | Callable[..., str], input: Any) -> None:
        self.machine = machine
        self.instance = instance
        self.input = input
        self._instance_mode = call_mode(instance)
        self._input_mode = call_mode(input)
        self.reads_sender = _reads_sender(self._instance_mode, self._input_mode)

    def run(self, step: Step, event: Mapping[str, Any], params: Any) -> None:
        context = step.context
        instance = _value(self.instance, self._instance_mode, step, event, params)
        value = _value(self.input, self._input_mode, step, event, params)
        step.actions.append(Action(CREATE_INSTANCE, {"machine": self.machine, "instance": instance, "input": value}, event, context))

    def to_config(self) -> Any:
        return {"type": self.type, "machine": self.machine}


class BoundAction:
    """One action of a config, resolved to its implementation, with its params."""

    __slots__ = ("_params_fn", "implementation", "params")

    def __init__(self, implementation: ActionImplementation, params: Any = None) -> None:
        self.implementation = implementation
        self.params = params
        self._params_fn = params if callable(params) else None

    def run(self, step: Step, event: Mapping[str, Any]) -> None:
        params = self._params_fn(step.context, event) if self._params_fn is not None else self.params
        self.implementation.run(step, event, params)


def assign(assignment: Callable[..., Mapping[str, Any]] | Mapping[str, Any]) -> Assign:
    """Update the context.

    `assign(fn)`: `fn(context, event[, params])` returns a dict merged into the context.
    `assign({"key": value_or_fn, ...})`: sets each key; functions get `(context, event[, params])`.
    A function that declares a keyword parameter `sender` also gets the event's `Sender`.
    Later actions of the same step see the new context.
    """
    return Assign(assignment)


def raise_(
    event: Mapping[str, Any] | Callable[..., Mapping[str, Any]],
    *,
    id: str | None = None,
    delay: float | str | Callable[..., Any] | None = None,
) -> Raise:
    """Raise an event to this machine.

    Without `delay` the event is processed in the same macrostep, after the current microstep.
    With a delay (milliseconds, a named delay, or `fn(context, event)`), it is returned as an
    `xstate.raise` action for the runtime to schedule; `id` lets `cancel(id)` remove it.
    """
    return Raise(event, id, delay)


def cancel(send_id: str | Callable[..., str]) -> Cancel:
    """Cancel a delayed `raise_` by its `id` (returned as an `xstate.cancel` action)."""
    return Cancel(send_id)


def send_to(
    target: Any,
    instance_or_event: Any,
    event: Mapping[str, Any] | Callable[..., Mapping[str, Any]] = _NO_EVENT,
    *,
    delay: float | str | Callable[..., Any] | None = None,
    id: str | None = None,
) -> SendTo | SendToChild:
    """Send an event to an actor or to another machine instance.

    `send_to(target, event)` (XState's `sendTo`): `target` is a child's id (invoked or
    spawned), `SELF` (the machine itself: the event is taken after this macrostep), `PARENT`,
    `system.get(system_id)` (the actor registered under that `systemId`), XState's strings
    `"#_parent"` / `"#_internal"`, or `fn(context, event)` returning one of them. A child id
    that names no current child raises `UnknownActorError`, as XState throws. With `delay`
    (milliseconds, a named delay or a function) the event is sent that much later; `id`
    lets `cancel(id)` stop it. Returned as an `xstate.sendTo` action (`xstate.sendParent`
    for the parent).
    `send_to(machine, instance, event)`: to instance `instance` of `machine`, returned as a
    `statesync.sendTo` action. Ids, names and events may be `fn(context, event)`. The server
    commits either with this transition and delivers it exactly once, in order per sender
    and receiver.
    """
    if event is _NO_EVENT:
        return SendToChild(target, instance_or_event, delay, id)
    if delay is not None or id is not None:
        raise TypeError("send_to(machine, instance, event) takes no delay or id")
    if callable(target):
        raise TypeError("send_to(machine, instance, event) needs the target machine name")
    return SendTo(target, instance_or_event, event)


def send_parent(event: Mapping[str, Any] | Callable[..., Mapping[str, Any]], *,
                delay: float | str | Callable[..., Any] | None = None, id: str | None = None) -> SendParent:
    """Send `event` (or `fn(context, event)`) to the parent: the machine instance that invoked
    or spawned this one (XState's `sendParent`; an `xstate.sendParent` action `{"event"}`,
    with `"delay"` and `"sendId"` when delayed)."""
    return SendParent(event, delay, id)


def forward_to(child_id: str | Callable[..., str]) -> SendToChild:
    """Send the event being processed on to child `child_id` (XState's `forwardTo`)."""
    return SendToChild(child_id, None)


def spawn_child(src: str, *, id: str | Callable[..., str], input: Any = None, system_id: str | None = None,
                sync_snapshot: bool = False) -> SpawnChild:
    """Start child actor `src` under `id` (XState's `spawnChild`): a service, or a machine
    the server runs as a child instance. Stopped by `stop_child(id)` or when the machine ends.

    `id` may be `fn(context, event)` (an id computed when the action runs). `system_id`
    registers the child in the system (`system.get(system_id)` finds it); with
    `sync_snapshot=True` the machine receives `xstate.snapshot.<id>` (with the child's
    `snapshot`) for each of the child's snapshots while it is active."""
    if not isinstance(src, str) or not (callable(id) or (isinstance(id, str) and id)):
        raise TypeError("spawn_child(src, id=...) takes the actor's name and a string id (or a function)")
    if system_id is not None and (not isinstance(system_id, str) or not system_id):
        raise TypeError("spawn_child(): system_id must be a non-empty string")
    return SpawnChild(id, src, input, system_id, sync_snapshot)


def stop_child(child_id: str | Callable[..., str]) -> StopChild:
    """Stop the child actor `child_id` (XState's `stopChild`; or `fn(context, event)`); no
    child by that id: nothing."""
    if not isinstance(child_id, str) and not callable(child_id):
        raise TypeError("stop_child() takes the child's id")
    return StopChild(child_id)


def create_instance(machine: str, instance: str | Callable[..., str], input: Any = None) -> CreateInstance:
    """Create instance `instance` of `machine` with `input` (values or `fn(context, event)`).

    Returned as a `statesync.createInstance` action, committed with this transition.
    """
    return CreateInstance(machine, instance, input)
