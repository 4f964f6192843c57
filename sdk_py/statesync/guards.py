"""Guard helpers (`and_`, `or_`, `not_`, `state_in`) and guard compilation.

A guard in a config is a name, `{"type": name, "params": {...}}`, a callable
`fn(context, event[, params][, sender=]) -> bool`, or a helper object from this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._callables import PARAMS, SENDER, call, call_mode, name_of
from .errors import DefinitionError

if TYPE_CHECKING:
    from .algorithm import Step
    from .definition import StateNode

GuardRef = Any  # str | Mapping | Callable | GuardHelper


class GuardHelper:
    """Base of the built-in guard helpers; resolved when the machine is defined."""

    type = "(guard)"


class And(GuardHelper):
    type = "xstate.and"

    def __init__(self, guards: Sequence[GuardRef]) -> None:
        self.guards = list(guards)


class Or(GuardHelper):
    type = "xstate.or"

    def __init__(self, guards: Sequence[GuardRef]) -> None:
        self.guards = list(guards)


class Not(GuardHelper):
    type = "xstate.not"

    def __init__(self, guard: GuardRef) -> None:
        self.guards = [guard]


class StateIn(GuardHelper):
    type = "xstate.stateIn"

    def __init__(self, state_value: str | Mapping[str, Any]) -> None:
        self.state_value = state_value


def and_(guards: Sequence[GuardRef]) -> And:
    """True when every guard is true (evaluated in order, short-circuit)."""
    return And(guards)


def or_(guards: Sequence[GuardRef]) -> Or:
    """True when any guard is true (evaluated in order, short-circuit)."""
    return Or(guards)


def not_(guard: GuardRef) -> Not:
    """True when `guard` is false."""
    return Not(guard)


def state_in(state_value: str | Mapping[str, Any]) -> StateIn:
    """True when the machine is in `state_value`: `"#id"`, a path `"a.b"` or a value dict."""
    return StateIn(state_value)


class CompiledGuard:
    """A guard resolved to its implementation."""

    __slots__ = ()
    reads_sender = False

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        raise NotImplementedError


class _CallGuard(CompiledGuard):
    __slots__ = ("fn", "params", "mode", "name", "reads_sender")

    def __init__(self, fn: Callable[..., Any], params: Any, name: str) -> None:
        self.fn = fn
        self.params = params
        self.mode = call_mode(fn)
        self.name = name
        self.reads_sender = bool(self.mode & SENDER)

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        mode = self.mode
        if not mode:
            return bool(self.fn(context, event))
        params = self.params
        if mode & PARAMS and callable(params):
            params = params(context, event)
        return bool(call(self.fn, mode, context, event, params, step.sender))


class _AllGuard(CompiledGuard):
    __slots__ = ("guards", "reads_sender")

    def __init__(self, guards: list[CompiledGuard]) -> None:
        self.guards = guards
        self.reads_sender = any(g.reads_sender for g in guards)

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        return all(g.test(context, event, step) for g in self.guards)


class _AnyGuard(CompiledGuard):
    __slots__ = ("guards", "reads_sender")

    def __init__(self, guards: list[CompiledGuard]) -> None:
        self.guards = guards
        self.reads_sender = any(g.reads_sender for g in guards)

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        return any(g.test(context, event, step) for g in self.guards)


class _NotGuard(CompiledGuard):
    __slots__ = ("guard", "reads_sender")

    def __init__(self, guard: CompiledGuard) -> None:
        self.guard = guard
        self.reads_sender = guard.reads_sender

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        return not self.guard.test(context, event, step)


class _InNodeGuard(CompiledGuard):
    __slots__ = ("node",)

    def __init__(self, node: StateNode) -> None:
        self.node = node

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        return self.node in step.nodes


class _UnknownStateGuard(CompiledGuard):
    """`state_in("#id...")` naming no state: as in XState, the machine is accepted and the
    guard fails the transition when it is evaluated."""

    __slots__ = ("error",)

    def __init__(self, error: DefinitionError) -> None:
        self.error = error

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        raise DefinitionError(str(self.error))


class _MatchesGuard(CompiledGuard):
    __slots__ = ("state_value",)

    def __init__(self, state_value: Any) -> None:
        self.state_value = state_value

    def test(self, context: Any, event: Mapping[str, Any], step: Step) -> bool:
        from .snapshot import matches_state

        return matches_state(self.state_value, step.value())


def compile_guard(
    ref: GuardRef,
    implementations: Mapping[str, Any],
    find_node: Callable[[str], StateNode],
    where: str,
    _depth: int = 0,
) -> CompiledGuard:
    """Resolve a guard reference against `implementations`; errors name `where`."""
    if _depth > 50:
        raise DefinitionError(f"{where}: guard definitions refer to each other in a cycle")

    def again(inner: GuardRef) -> CompiledGuard:
        return compile_guard(inner, implementations, find_node, where, _depth + 1)

    if isinstance(ref, (And, Or)):
        children = [again(g) for g in ref.guards]
        return _AllGuard(children) if isinstance(ref, And) else _AnyGuard(children)
    if isinstance(ref, Not):
        return _NotGuard(again(ref.guards[0]))
    if isinstance(ref, StateIn):
        value = ref.state_value
        if isinstance(value, str) and value.startswith("#"):
            try:
                return _InNodeGuard(find_node(value))
            except DefinitionError as error:
                return _UnknownStateGuard(error)
        return _MatchesGuard(value)
    if callable(ref):
        return _CallGuard(ref, None, name_of(ref))
    params: Any = None
    if isinstance(ref, Mapping):
        kind = ref.get("type")
        if kind in ("xstate.and", "xstate.or", "xstate.not"):
            inner = ref.get("guards")
            if not isinstance(inner, list) or (kind == "xstate.not" and len(inner) != 1):
                raise DefinitionError(f"{where}: guard {kind!r} needs a 'guards' list")
            helper = {"xstate.and": And, "xstate.or": Or}.get(kind)
            return again(helper(inner) if helper else Not(inner[0]))
        if kind == "xstate.stateIn":
            return again(StateIn(ref.get("stateValue")))
        if not isinstance(kind, str):
            raise DefinitionError(f"{where}: a guard object needs a string 'type', got {ref!r}")
        name, params = kind, ref.get("params")
    elif isinstance(ref, str):
        name = ref
    else:
        raise DefinitionError(f"{where}: a guard must be a name, a dict with 'type', or a function; got {ref!r}")
    if name not in implementations:
        raise DefinitionError(f"{where}: unknown guard {name!r} (pass it in guards=)")
    implementation = implementations[name]
    if isinstance(implementation, (GuardHelper, str, Mapping)):
        # a helper, an alias ("other") or a guard object ({"type", "params"}): resolved in
        # turn, with its own params (XState's evaluateGuard drops the reference's params)
        return again(implementation)
    if not callable(implementation):
        raise DefinitionError(f"{where}: guard {name!r} is not callable")
    return _CallGuard(implementation, params, name)


def guard_to_config(ref: GuardRef) -> Any:
    """The JSON form of a guard reference, implementations by name."""
    if isinstance(ref, (And, Or, Not)):
        return {"type": ref.type, "guards": [guard_to_config(g) for g in ref.guards]}
    if isinstance(ref, StateIn):
        return {"type": ref.type, "stateValue": ref.state_value}
    if callable(ref):
        return name_of(ref)
    return ref
