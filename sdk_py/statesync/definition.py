"""Machine config -> validated tree of state nodes (ids, document order, resolved targets)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .actions import (
    ActionImplementation,
    BoundAction,
    Call,
    Cancel,
    Effect,
    Raise,
    SpawnChild,
    StopChild,
)
from .errors import DefinitionError
from .guards import CompiledGuard, GuardHelper, compile_guard
from .snapshot import to_state_path
from . import v4
from .v4 import unknown_keys_message

STATE_KINDS = ("atomic", "compound", "parallel", "final", "history")
STATE_KEYS = frozenset(
    {"id", "initial", "context", "states", "on", "always", "after", "entry", "exit", "type", "history",
     "target", "tags", "onDone", "output", "description", "meta", "invoke", "version", "schemas", "types"}
)
TRANSITION_KEYS = frozenset({"target", "actions", "guard", "reenter", "description", "meta"})
INVOKE_KEYS = frozenset({"src", "id", "input", "onDone", "onError", "onSnapshot", "systemId",
                         "description", "meta"})


UNRESOLVED: Any = object()  # a transition's domain before it is first computed


class Transition:
    """One transition of a state node, with resolved target nodes."""

    __slots__ = ("source", "event_type", "targets", "actions", "guard", "reenter", "config", "_domain", "_entry")

    def __init__(self, source: StateNode, event_type: str | None, config: Mapping[str, Any]) -> None:
        self.source = source
        self.event_type = event_type
        self.config = config
        self.targets: tuple[StateNode, ...] | None = None
        self.actions: list[BoundAction] = []
        self.guard: CompiledGuard | None = None
        self.reenter: bool = bool(config.get("reenter", False))
        self._domain: Any = UNRESOLVED
        self._entry: Any = None

    def __repr__(self) -> str:
        targets = None if self.targets is None else [t.id for t in self.targets]
        return f"<Transition #{self.source.id} {self.event_type!r} -> {targets}>"



class StateNode:
    """A state in the tree. `order` is document order (pre-order), the root is 0."""

    __slots__ = (
        "machine", "parent", "key", "id", "path", "order", "type", "history", "states", "children",
        "history_children", "initial", "entry", "exit", "transitions", "always", "invoke", "tags",
        "output", "has_output", "description", "meta", "config", "ancestors", "ancestor_set", "is_atomic",
        "history_target", "spawns", "stops", "timer_starts", "timer_cancels", "always_chain", "_candidates",
    )

    def __init__(self, machine: Any, config: Mapping[str, Any], parent: StateNode | None, key: str) -> None:
        self.machine = machine
        self.parent = parent
        self.key = key
        self.path: tuple[str, ...] = (*parent.path, key) if parent else ()
        where = f"state '{'.'.join((machine.id, *self.path))}'"
        if not isinstance(config, Mapping):
            raise DefinitionError(f"{where}: a state config must be a dict, got {type(config).__name__}")
        unknown = set(config) - STATE_KEYS
        if unknown:
            raise DefinitionError(unknown_keys_message(where, unknown, v4.STATE))
        explicit_id = config.get("id")
        if explicit_id is not None and not isinstance(explicit_id, str):
            raise DefinitionError(f"{where}: 'id' must be a string")
        self.id: str = explicit_id or ".".join((machine.id, *self.path))
        self.config = config
        self.order = len(machine.nodes)
        machine.nodes.append(self)
        known = machine.id_map.get(self.id)
        if known is not None and (explicit_id is not None or known.config.get("id") is not None):
            raise DefinitionError(f"{where}: duplicate state id {self.id!r}")
        # Two implicit ids can only meet through a dotted key ("a.b" and "a" > "b"); as in XState
        # the later state takes the id, and `#id.path` targets reach both (split at unescaped dots).
        machine.id_map[self.id] = self
        states = config.get("states") or {}
        if not isinstance(states, Mapping):
            raise DefinitionError(f"{where}: 'states' must be a dict of state configs")
        kind = config.get("type")
        if kind is None:
            kind = "compound" if states else ("history" if config.get("history") else "atomic")
        if kind not in STATE_KINDS:
            raise DefinitionError(f"{where}: 'type' must be one of {list(STATE_KINDS)}, got {kind!r}")
        self.type: str = kind
        history = config.get("history")
        self.history: str | None = "shallow" if history is True else (history or None)
        if kind == "history" and self.history not in ("shallow", "deep"):
            if history is None:
                self.history = "shallow"
            else:
                raise DefinitionError(f"{where}: 'history' must be 'shallow' or 'deep', got {history!r}")
        if parent is None and kind == "history":
            raise DefinitionError(f"{where}: the root cannot be a history state")
        self.states: dict[str, StateNode] = {}
        in_order: list[StateNode] = []  # document order (also where dicts keep no order)
        for child_key, child_config in js_key_order(states):
            if not isinstance(child_key, str) or not child_key:
                raise DefinitionError(f"{where}: invalid state key {child_key!r} (a non-empty string)")
            self.states[child_key] = StateNode(machine, child_config, self, child_key)
            in_order.append(self.states[child_key])
        self.children = [c for c in in_order if c.type != "history"]
        self.history_children = [c for c in in_order if c.type == "history"]
        if kind == "compound" and not config.get("initial"):
            first = next(iter(self.states), "...")
            raise DefinitionError(f"{where}: compound state needs 'initial' (e.g. 'initial': {first!r})")
        if kind in ("atomic", "final", "history") and self.states:
            raise DefinitionError(f"{where}: a {kind} state cannot have child states")
        tags = config.get("tags") or []
        self.tags: tuple[str, ...] = (tags,) if isinstance(tags, str) else tuple(tags)
        self.has_output = "output" in config and (kind == "final" or parent is None)
        """Whether the config gives an `output` (XState: not undefined; None is an output)."""
        self.output = config.get("output") if self.has_output else None
        self.description = config.get("description")
        self.meta = config.get("meta")
        ancestors = []
        node = parent
        while node is not None:
            ancestors.append(node)
            node = node.parent
        self.ancestors: tuple[StateNode, ...] = tuple(ancestors)
        self.ancestor_set = frozenset(ancestors)
        self.is_atomic = kind in ("atomic", "final")
        self.initial: Transition | None = None
        self.entry: list[BoundAction] = []
        self.exit: list[BoundAction] = []
        self.transitions: dict[str, list[Transition]] = {}
        self.always: list[Transition] = []
        self.invoke: list[dict[str, Any]] = []
        self.history_target: Transition | None = None
        self.always_chain: tuple[StateNode, ...] = ()
        self.timer_starts: list[BoundAction] = []
        self.timer_cancels: list[BoundAction] = []
        self.spawns: list[BoundAction] = []
        self.stops: list[BoundAction] = []
        self._candidates: dict[str, list[Transition]] = {}

    def __repr__(self) -> str:
        return f"<StateNode #{self.id}>"

    @property
    def where(self) -> str:
        return f"state '{'.'.join((self.machine.id, *self.path))}'"

    def candidates(self, event_type: str) -> list[Transition]:
        """Transitions for `event_type`: exact match first, then wildcards, longest first."""
        found = self._candidates.get(event_type)
        if found is None:
            exact = self.transitions.get(event_type, [])
            wildcards = sorted(
                (d for d in self.transitions if d != event_type and matches_descriptor(event_type, d)),
                key=len,
                reverse=True,
            )
            found = [*exact, *(t for d in wildcards for t in self.transitions[d])]
            self._candidates[event_type] = found
        return found

    def next(self, context: Any, event: Mapping[str, Any], step: Any) -> Transition | None:
        """The first candidate transition whose guard passes, if any."""
        for transition in self.candidates(event["type"]):
            guard = transition.guard
            if guard is None or guard.test(context, event, step):
                return transition
        return None


def matches_descriptor(event_type: str, descriptor: str) -> bool:
    """XState event descriptor matching: exact, `*`, or `prefix.*` (which also matches `prefix`)."""
    if descriptor == event_type or descriptor == "*":
        return True
    if not descriptor.endswith(".*"):
        return False
    event_tokens = event_type.split(".")
    tokens = descriptor.split(".")
    for index, token in enumerate(tokens):
        if token == "*":
            return index == len(tokens) - 1
        if index >= len(event_tokens) or token != event_tokens[index]:
            return False
    return True


def js_key_order(mapping: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Items in JavaScript's object key order: integer-like keys ascending, then the rest as given.

    XState configs are JS objects, so this is the document order XState sees.
    """
    items = list(mapping.items())
    indices = [(int(k), k, v) for k, v in items if isinstance(k, str) and _is_array_index(k)]
    if not indices:
        return items
    rest = [(k, v) for k, v in items if not (isinstance(k, str) and _is_array_index(k))]
    return [(k, v) for _, k, v in sorted(indices)] + rest


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def delay_key(delay: Any) -> int | float | str:
    """`after` keys: numbers (also as strings) are milliseconds, anything else a named delay."""
    if isinstance(delay, (int, float)) and not isinstance(delay, bool):
        number = delay
    else:
        try:
            number = float(delay)
        except (TypeError, ValueError):
            return str(delay)
    return int(number) if float(number).is_integer() else number


class Builder:
    """Resolves names, targets and implementations for every node of a machine."""

    def __init__(self, machine: Any, actions: Mapping[str, Any], guards: Mapping[str, Any], delays: Mapping[str, Any]) -> None:
        self.machine = machine
        self.actions = actions
        self.guards = guards
        self.delays = delays
        self._effects: dict[str, Effect] = {}

    def build(self, root: StateNode) -> None:
        self._initialize(root)

    # nodes ---------------------------------------------------------------------------------

    def _initialize(self, node: StateNode) -> None:
        config = node.config
        where = node.where
        node.entry = self.bind_actions(config.get("entry"), f"{where} entry")
        node.exit = self.bind_actions(config.get("exit"), f"{where} exit")
        self._invoke(node)
        on = config.get("on") or {}
        if not isinstance(on, Mapping):
            raise DefinitionError(f"{where}: 'on' must be a dict of event type -> transition(s)")
        for descriptor, transition_config in js_key_order(on):
            if not isinstance(descriptor, str) or descriptor == "":
                raise DefinitionError(f"{where}: invalid event type {descriptor!r} in 'on' (use 'always' for eventless)")
            node.transitions[descriptor] = self.transitions(node, descriptor, transition_config)
        if config.get("onDone") is not None:
            descriptor = f"xstate.done.state.{node.id}"
            node.transitions[descriptor] = self.transitions(node, descriptor, config["onDone"])
        for invoke in node.invoke:
            for key, prefix in (("onDone", "xstate.done.actor."), ("onError", "xstate.error.actor."),
                                ("onSnapshot", "xstate.snapshot.")):
                if invoke["config"].get(key) is not None:
                    descriptor = prefix + invoke["id"]
                    node.transitions[descriptor] = self.transitions(node, descriptor, invoke["config"][key])
        self._after(node)
        if config.get("always") is not None:
            node.always = self.transitions(node, None, config["always"])
        node.always_chain = tuple(n for n in (node, *node.ancestors) if n.config.get("always") is not None)
        if node.type == "compound" and node.initial is None:
            node.initial = self._initial(node)
        elif node.type == "history":
            node.history_target = self._history_default(node)
        for child in node.states.values():
            self._initialize(child)

    def _invoke(self, node: StateNode) -> None:
        for index, invoke in enumerate(_as_list(node.config.get("invoke"))):
            where = f"{node.where} invoke[{index}]"
            if not isinstance(invoke, Mapping) or not isinstance(invoke.get("src"), str):
                raise DefinitionError(f"{where}: invoke needs a dict with a string 'src' (the service name)")
            unknown = set(invoke) - INVOKE_KEYS
            if unknown:
                raise DefinitionError(unknown_keys_message(where, unknown, v4.INVOKE))
            child_id = invoke.get("id") or f"{index}.{node.id}"
            node.invoke.append({"id": child_id, "src": invoke["src"], "config": invoke})
            system_id = invoke.get("systemId")
            if system_id is not None and (not isinstance(system_id, str) or not system_id):
                raise DefinitionError(f"{where}: 'systemId' must be a non-empty string")
            spawn = SpawnChild(child_id, invoke["src"], invoke.get("input"), system_id,
                               invoke.get("onSnapshot") is not None)
            node.spawns.append(BoundAction(spawn))
            node.stops.append(BoundAction(StopChild(child_id)))

    def _after(self, node: StateNode) -> None:
        after = node.config.get("after")
        if after is None:
            return
        if not isinstance(after, Mapping):
            raise DefinitionError(f"{node.where}: 'after' must be a dict of delay -> transition(s)")
        for raw_delay, transition_config in js_key_order(after):
            delay = delay_key(raw_delay)
            if isinstance(delay, str) and delay not in self.delays:
                raise DefinitionError(f"{node.where}: unknown delay {delay!r} in 'after' (pass it in delays=)")
            event_type = f"xstate.after.{delay}.{node.id}"
            start, stop = BoundAction(Raise({"type": event_type}, event_type, delay)), BoundAction(Cancel(event_type))
            node.entry.append(start)
            node.exit.append(stop)
            node.timer_starts.append(start)
            node.timer_cancels.append(stop)
            node.transitions.setdefault(event_type, []).extend(self.transitions(node, event_type, transition_config))

    def _initial(self, node: StateNode) -> Transition:
        initial = node.config["initial"]
        config = initial if isinstance(initial, Mapping) else {"target": initial}
        target = config.get("target")
        if not isinstance(target, str) or target not in node.states:
            raise DefinitionError(f"{node.where}: initial state {target!r} is not a child state (children: {list(node.states)})")
        transition = Transition(node, None, config)
        transition.targets = (node.states[target],)
        transition.actions = self.bind_actions(config.get("actions"), f"{node.where} initial")
        return transition

    def _history_default(self, node: StateNode) -> Transition:
        parent = node.parent
        assert parent is not None
        raw = _as_list(node.config.get("target"))
        if not raw:
            if parent.type == "parallel":
                transition = Transition(node, None, {})
                transition.targets = (parent,)
                return transition
            if parent.initial is None:
                parent.initial = self._initial(parent)
            if parent.initial.targets == (node,):
                raise DefinitionError(f"{node.where}: a history state that is its parent's initial state needs a 'target'")
            return parent.initial
        transition = Transition(node, None, {"target": raw})
        transition.targets = tuple(self._path(parent, t, node) for t in raw)
        return transition

    # transitions ---------------------------------------------------------------------------

    def transitions(self, node: StateNode, descriptor: str | None, config: Any) -> list[Transition]:
        items = config if isinstance(config, (list, tuple)) else [config]
        return [self._transition(node, descriptor, item) for item in items]

    def _transition(self, node: StateNode, descriptor: str | None, config: Any) -> Transition:
        label = "always" if descriptor is None else repr(descriptor)
        where = f"{node.where} transition {label}"
        if config is None or isinstance(config, str):
            config = {"target": config}
        if not isinstance(config, Mapping):
            raise DefinitionError(f"{where}: a transition must be a target string or a dict, got {config!r}")
        unknown = set(config) - TRANSITION_KEYS
        if unknown:
            raise DefinitionError(unknown_keys_message(where, unknown, v4.TRANSITION))
        transition = Transition(node, descriptor, config)
        raw = config.get("target")
        if raw is not None and raw != "":
            targets = _as_list(raw)
            transition.targets = tuple(self._target(node, t, where) for t in targets)
        transition.actions = self.bind_actions(config.get("actions"), where)
        if config.get("guard") is not None:
            transition.guard = compile_guard(config["guard"], self.guards, self._find_by_id_for(where), where)
            if transition.guard.reads_sender:
                self.machine.reads_sender = True
        return transition

    def _find_by_id_for(self, where: str) -> Callable[[str], StateNode]:
        def find(ref: str) -> StateNode:
            node = self.machine.find_by_id(ref)
            if node is None:
                raise DefinitionError(f"{where}: unknown state {ref!r}")
            return node

        return find

    def _target(self, node: StateNode, target: Any, where: str) -> StateNode:
        if not isinstance(target, str):
            raise DefinitionError(f"{where}: a target must be a string, got {target!r}")
        if target.startswith("#"):
            found = self.machine.find_by_id(target)
            if found is None:
                head = to_state_path(target[1:])[0]
                if head in self.machine.id_map:
                    reason = f"state '#{head}' has no such child path"
                else:
                    reason = f"no state has id {head!r}; the id ends at the first unescaped dot (escape a dot in an id as '\\.')"
                raise DefinitionError(f"{where}: unknown target {target!r}: {reason}")
            return found
        if target.startswith("."):
            return self._path(node, target[1:], node, where)
        if node.parent is None:
            raise DefinitionError(f"{where}: invalid target {target!r} from the root; did you mean '.{target}'?")
        return self._path(node.parent, target, node, where)

    def _path(self, base: StateNode, path: str, origin: StateNode, where: str | None = None) -> StateNode:
        current = base
        for key in to_state_path(path):
            if not key:
                break
            child = current.states.get(key)
            if child is None:
                raise DefinitionError(
                    f"{where or origin.where}: unknown target {path!r}: "
                    f"state '{current.id}' has no child {key!r} (children: {list(current.states)})"
                )
            current = child
        return current

    # actions -------------------------------------------------------------------------------

    def bind_actions(self, config: Any, where: str) -> list[BoundAction]:
        return [self.bind_action(item, where) for item in _as_list(config)]

    def bind_action(self, ref: Any, where: str) -> BoundAction:
        bound = self._bind_action(ref, where)
        if bound.implementation.reads_sender:
            self.machine.reads_sender = True
        if getattr(bound.implementation, "binds_at_run_time", False):
            self.machine.binds_at_run_time = True
        return bound

    def _bind_action(self, ref: Any, where: str) -> BoundAction:
        if isinstance(ref, ActionImplementation):
            self._check_delay(ref, where)
            return BoundAction(ref)
        if isinstance(ref, GuardHelper):
            raise DefinitionError(f"{where}: {ref.type} is a guard, not an action")
        if callable(ref):
            return BoundAction(Call(ref))
        params: Any = None
        if isinstance(ref, Mapping):
            name = ref.get("type")
            if not isinstance(name, str):
                raise DefinitionError(f"{where}: an action object needs a string 'type', got {ref!r}")
            params = ref.get("params")
        elif isinstance(ref, str):
            name = ref
        else:
            raise DefinitionError(f"{where}: an action must be a name, a dict with 'type', or a function; got {ref!r}")
        return BoundAction(self._implementation(name, where), params)

    def _implementation(self, name: str, where: str) -> ActionImplementation:
        implementation = self.actions.get(name)
        if implementation is None:
            effect = self._effects.get(name)
            if effect is None:
                effect = self._effects[name] = Effect(name)
            return effect
        if isinstance(implementation, ActionImplementation):
            self._check_delay(implementation, where)
            return implementation
        if callable(implementation):
            return Call(implementation, name)
        raise DefinitionError(f"{where}: action {name!r} must be callable or made by assign/raise_/cancel")

    def _check_delay(self, implementation: ActionImplementation, where: str) -> None:
        if isinstance(implementation, Raise) and isinstance(implementation.delay, str):
            if implementation.delay not in self.delays:
                raise DefinitionError(f"{where}: unknown delay {implementation.delay!r} (pass it in delays=)")
