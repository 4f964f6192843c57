"""`Machine`: a validated statechart definition with pure transition functions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ._callables import SENDER, call, call_mode
from .actions import Action, BoundAction
from .algorithm import (
    INIT,
    Configuration,
    Step,
    children_map,
    configuration,
    is_in_final_state,
    macrostep,
    microstep,
    select_transitions,
)
from .definition import Builder, StateNode, Transition
from .errors import DefinitionError
from .guards import CompiledGuard, compile_guard
from .sender import NO_SENDER, Sender, takes_sender
from .snapshot import Snapshot, StateValue, to_state_path

Event = Mapping[str, Any]
RESERVED_PREFIXES = ("xstate.", "statesync.")  # event types only the server sends
UPGRADE_SENDER = Sender(origin="upgrade")


class Machine:
    """A statechart defined by an XState v5 config of plain dicts, lists and strings.

    `actions`, `guards` and `delays` map the names used in the config to implementations.
    Action names with no implementation are effects, returned by `transition` for the runtime.
    Implementations (and a `context` factory) that declare a keyword parameter `sender` get
    the event's `Sender` (see `statesync.sender`).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        actions: Mapping[str, Any] | None = None,
        guards: Mapping[str, Any] | None = None,
        delays: Mapping[str, Any] | None = None,
        actors: Mapping[str, Any] | None = None,
        max_microsteps: int = 10_000,
    ) -> None:
        if not isinstance(config, Mapping):
            raise DefinitionError(f"a machine config must be a dict, got {type(config).__name__}")
        machine_id = config.get("id") or "(machine)"
        if not isinstance(machine_id, str):
            raise DefinitionError("the machine 'id' must be a string")
        self.id: str = machine_id
        self.config = config
        self.actors: Mapping[str, Any] = dict(actors or {})
        """Invoked `src` names -> implementations, for the runtime (the server's services)."""
        self.actions: Mapping[str, Any] = dict(actions or {})
        self.guards: Mapping[str, Any] = dict(guards or {})
        self.delays: Mapping[str, Any] = dict(delays or {})
        self.max_microsteps = max_microsteps
        self.reads_sender = False
        """Whether some implementation declares `sender` (set while the machine is built)."""
        self.binds_at_run_time = False
        """Whether an action (`enqueue_actions`) picks implementations by name while it runs."""
        self.id_map: dict[str, StateNode] = {}
        self.nodes: list[StateNode] = []
        """Every state node in document order (`node.order` is its index)."""
        self.root = StateNode(self, config, None, machine_id)
        self._builder = Builder(self, self.actions, self.guards, self.delays)
        self._builder.build(self.root)
        self._bound: dict[str, BoundAction] = {}
        self._checks: dict[str, CompiledGuard] = {}
        self.has_always = any(node.always for node in self.nodes)
        self.entry_plans: dict[tuple[Transition, ...], Any] = {}
        self.configurations: dict[tuple[StateNode, ...], Configuration] = {}
        """Interned configurations (`algorithm.configuration`)."""
        self._initial = Transition(self.root, None, {"reenter": True})
        self._initial.reenter = True
        self._initial.targets = tuple(_initial_nodes(self.root))
        self._delay_modes = {name: call_mode(d) for name, d in self.delays.items()}
        raw_context = config.get("context")
        self._context_sender = callable(raw_context) and takes_sender(raw_context)
        if self._context_sender or any(mode & SENDER for mode in self._delay_modes.values()):
            self.reads_sender = True
        if self.binds_at_run_time and _some_implementation_reads_sender(self.actions, self.guards):
            self.reads_sender = True  # enqueue_actions / check() may run any of them

    def __repr__(self) -> str:
        return f"<Machine {self.id!r}: {len(self.id_map)} states>"

    # lookups -------------------------------------------------------------------------------

    def find_by_id(self, ref: str) -> StateNode | None:
        """The node for `"#id"` or `"#id.child.path"` (None if there is none).

        As in XState, the id ends at the first unescaped dot: `"#a.b"` is child `b` of the
        state with id `a`; an id that contains a dot is written with it escaped (`"#a\\.b"`).
        """
        head, *rest = to_state_path(ref[1:] if ref.startswith("#") else ref)
        node = self.id_map.get(head)
        for key in rest:
            if node is None or not key:
                break
            node = node.states.get(key)
        return node

    def resolve_delay(self, name: str, context: Any, event: Event, params: Any = None,
                      sender: Sender = NO_SENDER) -> int | float:
        """Milliseconds of the named delay `name` for this context and event."""
        delay = self.delays[name]
        if callable(delay):
            return call(delay, self._delay_modes[name], context, event, params, sender)
        return delay

    # pure transitions ----------------------------------------------------------------------

    def initial_transition(self, input: Any = None, sender: Sender | None = None) -> tuple[Snapshot, list[Action]]:
        """The initial snapshot (entry actions run, eventless transitions taken) and its actions.

        `sender`: who creates the instance, passed to implementations that declare `sender`."""
        sender = NO_SENDER if sender is None else sender
        raw = self.config.get("context")
        if callable(raw):
            context = raw(input, sender=sender) if self._context_sender else raw(input)
        else:
            context = copy.deepcopy(raw) if raw is not None else {}
        step = Step(self, {self.root: None}, context, "active", None, None, {}, {})
        step.sender = sender
        init_event = {"type": INIT, "input": input}
        microstep(step, [self._initial], init_event, is_initial=True)
        macrostep(step, init_event, self.max_microsteps)
        return self._snapshot(step), step.actions

    def transition(self, snapshot: Snapshot, event: Event, sender: Sender | None = None) -> tuple[Snapshot, list[Action]]:
        """Apply `event` (a dict with `"type"`): the next snapshot and the actions to carry out.

        `sender` (a `Sender`) is passed to implementations that declare a keyword parameter
        `sender`; without it they get `Sender()` (origin `none`). Unhandled events give back
        the same snapshot object and no actions. Exceptions raised by guards or actions
        propagate; nothing is changed then.
        """
        _check_event(event)
        if snapshot.status != "active":
            return snapshot, []
        return self._result(snapshot, self._macrostep(snapshot, event, sender))

    def take(self, snapshot: Snapshot, event: Event, sender: Sender | None = None) -> tuple[Snapshot, list[Action]] | None:
        """`transition` if the snapshot is `active` and `can` accepts `event`, else None: the
        transitions are selected (and their guards asked) once instead of twice."""
        _check_event(event)
        if snapshot.status != "active":
            return None
        step = self._macrostep(snapshot, event, sender)
        return self._result(snapshot, step) if step.taken else None

    def can(self, snapshot: Snapshot, event: Event, sender: Sender | None = None) -> bool:
        """Whether `event` would be taken by some transition (with a target or actions) of
        the snapshot's states; `sender` as for `transition` (guards may read it).

        As XState's `snapshot.can`, this looks at the states only, not the status: a `done`
        or `error` snapshot answers by the transition it would select, though `transition`
        ignores every event once the snapshot is not `active`."""
        _check_event(event)
        step = self._step(snapshot)
        if sender is not None:
            step.sender = sender
        transitions = select_transitions(step, event)
        return any(t.targets is not None or t.actions for t in transitions)

    def handles(self, snapshot: Snapshot, event_type: str) -> bool:
        """Whether some active state has a transition for `event_type` (guards not asked):
        with `can` false, the event is handled there but every guard refused it."""
        return snapshot.status == "active" and any(node.candidates(event_type) for node in snapshot._nodes)

    def next_events(self, snapshot: Snapshot) -> list[str]:
        """The event descriptors (types, or `*` / `prefix.*` wildcards) the active states have
        transitions for, sorted: what `can` may accept, before guards. The reserved ones
        (`xstate.` / `statesync.`: timers, done events) are left out."""
        if snapshot.status != "active":
            return []
        descriptors = {d for node in snapshot._nodes for d in node.transitions}
        return sorted(d for d in descriptors if not d.startswith(RESERVED_PREFIXES))

    # resuming (upgrades) -------------------------------------------------------------------

    def start_at(self, value: StateValue, context: Any, history_value: Mapping[str, list[str]] | None = None,
                 event: Event | None = None) -> tuple[Snapshot, list[Action]]:
        """A snapshot in configuration `value`, with its timers and invoked services started.

        For moving a running instance to this machine (a version upgrade): every active state's
        `after` timers and `invoke`s start as if it had just been entered, in document order;
        entry actions (effects such as e-mails) do not run again.
        """
        snapshot = self.restore({"value": value, "context": context, "historyValue": history_value or {}})
        step = self._step(snapshot)
        step.children = {}
        step.sender = UPGRADE_SENDER
        cause = event or {"type": "statesync.upgrade"}
        for node in sorted(snapshot._nodes, key=lambda n: n.order):
            step.run(node.timer_starts, cause)
            step.run(node.spawns, cause)
        return self._snapshot(step), step.actions

    def stop_actions(self, snapshot: Snapshot, event: Event | None = None) -> list[Action]:
        """Cancels for the timers and stops for the invoked services of every active state.

        The counterpart of `start_at` when an instance leaves this machine; exit actions do not run.
        """
        step = self._step(snapshot)
        step.sender = UPGRADE_SENDER
        cause = event or {"type": "statesync.upgrade"}
        for node in sorted(snapshot._nodes, key=lambda n: n.order, reverse=True):
            step.run(node.timer_cancels, cause)
            step.run(node.stops, cause)
        return step.actions

    # persistence ---------------------------------------------------------------------------

    def restore(self, data: Mapping[str, Any]) -> Snapshot:
        """A snapshot from `Snapshot.to_dict()` output (or any dict with at least `value`;
        without `children`, the actors the active states invoke are taken as running)."""
        if not isinstance(data, Mapping) or "value" not in data:
            raise ValueError("restore() needs a dict with a 'value' (from Snapshot.to_dict())")
        nodes = self._nodes_for_value(data["value"])
        history = {}
        for key, ids in (data.get("historyValue") or {}).items():
            found = [self.id_map.get(i) for i in ids]
            if key not in self.id_map or None in found:
                raise ValueError(f"restore(): unknown state in historyValue {key!r}: {ids!r}")
            history[key] = found
        status = data.get("status") or "active"
        if is_in_final_state(dict.fromkeys(nodes), self.root):
            status = "done"
        context = data.get("context")
        children = data.get("children")
        if children is None:  # e.g. a client's public state: the active states' invoked actors
            children = {invoke["id"]: invoke["src"] for node in nodes for invoke in node.invoke}
        return Snapshot(self, tuple(nodes), {} if context is None else context, status, data.get("output"),
                        data.get("error"), history, dict(children))

    def _nodes_for_value(self, value: StateValue) -> list[StateNode]:
        nodes = dict.fromkeys(self._state_nodes(self.root, value))
        adjacency: dict[StateNode, list[StateNode]] = {n: [] for n in nodes}
        for node in nodes:
            if node.parent is not None:
                adjacency.setdefault(node.parent, []).append(node)
        order = list(nodes)
        index = 0
        while index < len(order):
            node = order[index]
            index += 1
            if node.type == "compound" and not adjacency.get(node):
                extra = _initial_nodes_with_ancestors(node)
            elif node.type == "parallel":
                extra = [n for child in node.children if child not in nodes for n in _initial_nodes_with_ancestors(child)]
            else:
                continue
            for added in extra:
                if added not in nodes:
                    nodes[added] = None
                    order.append(added)
        for node in list(nodes):
            for ancestor in node.ancestors:
                nodes.setdefault(ancestor, None)
        return list(nodes)

    def _state_nodes(self, node: StateNode, value: StateValue) -> list[StateNode]:
        if isinstance(value, str):
            child = self._child(node, value)
            return [node, child]
        if not isinstance(value, Mapping):
            raise ValueError(f"invalid state value {value!r} for state '{node.id}'")
        found = [self.root, node]
        children = [self._child(node, key) for key in value]
        found.extend(children)
        for child, sub in zip(children, value.values()):
            found.extend(self._state_nodes(child, sub))
        return found

    def _child(self, node: StateNode, key: str) -> StateNode:
        if key.startswith("#"):
            found = self.find_by_id(key)
        else:
            found = node.states.get(key)
        if found is None:
            raise ValueError(f"state '{node.id}' has no child state {key!r}")
        return found

    # implementations -----------------------------------------------------------------------

    @classmethod
    def setup(
        cls,
        *,
        actions: Mapping[str, Any] | None = None,
        guards: Mapping[str, Any] | None = None,
        delays: Mapping[str, Any] | None = None,
        actors: Mapping[str, Any] | None = None,
    ) -> MachineSetup:
        """XState's `setup(...)`: implementations first, then `.create_machine(config)`.

        The v5 way to keep implementations next to a config exported from the Stately editor::

            machine = Machine.setup(actions={"inc": assign(...)}, guards={...}).create_machine(config)
        """
        return MachineSetup(actions, guards, delays, actors)

    def provide(
        self,
        *,
        actions: Mapping[str, Any] | None = None,
        guards: Mapping[str, Any] | None = None,
        delays: Mapping[str, Any] | None = None,
        actors: Mapping[str, Any] | None = None,
    ) -> Machine:
        """A new machine with the same config, these implementations replacing or adding to
        this machine's (XState's `machine.provide`). This machine is unchanged."""
        return type(self)(
            self.config,
            actions={**self.actions, **(actions or {})},
            guards={**self.guards, **(guards or {})},
            delays={**self.delays, **(delays or {})},
            actors={**self.actors, **(actors or {})},
            max_microsteps=self.max_microsteps,
        )

    def bind_action(self, ref: Any) -> BoundAction:
        """An action reference (name, `{"type", "params"}`, function or action object) bound
        to this machine's implementations, as in a config (names without one are effects)."""
        if type(ref) is str:
            bound = self._bound.get(ref)
            if bound is None:
                bound = self._bound[ref] = self._builder.bind_action(ref, f"machine {self.id!r} enqueued action")
            return bound
        return self._builder.bind_action(ref, f"machine {self.id!r} enqueued action")

    def check_guard(self, ref: Any, context: Any, event: Event, step: Step) -> bool:
        """Evaluate a guard reference against this machine's guards (`check` in `enqueue_actions`).

        As in XState, state guards (`state_in`) see the configuration from before the current
        microstep: actions run while states are being exited and entered."""
        compiled = self._checks.get(ref) if type(ref) is str else None
        if compiled is None:
            compiled = compile_guard(ref, self.guards, self._find_for_check, f"machine {self.id!r} check()")
            if type(ref) is str:
                self._checks[ref] = compiled
        nodes = step.before
        if nodes is not None and nodes is not step.nodes:
            view = Step(self, nodes, context, step.status, step.output, step.error, step.history, step.children)
            view.sender = step.sender
            if len(nodes) == 1:  # before the initial microstep: XState's value is the initial one
                view._kids = children_map(self._initial.targets)
            step = view
        return compiled.test(context, event, step)

    def _find_for_check(self, ref: str) -> StateNode:
        node = self.find_by_id(ref)
        if node is None:
            raise DefinitionError(f"machine {self.id!r} check(): unknown state {ref!r}")
        return node

    # export --------------------------------------------------------------------------------

    def to_config(self) -> dict[str, Any]:
        """The XState JSON config, with inline implementations replaced by their names."""
        from .export import to_config

        return to_config(self)

    def to_mermaid(self) -> str:
        """A Mermaid `stateDiagram-v2` of the machine (nested and parallel states drawn as such)."""
        from .export import to_mermaid

        return to_mermaid(self)

    # internals -----------------------------------------------------------------------------

    def _macrostep(self, snapshot: Snapshot, event: Event, sender: Sender | None) -> Step:
        step = self._step(snapshot)
        if sender is not None:
            step.sender = sender
        macrostep(step, event, self.max_microsteps)
        return step

    def _result(self, snapshot: Snapshot, step: Step) -> tuple[Snapshot, list[Action]]:
        """The snapshot after `step` (the same object when nothing changed) and its actions."""
        if (not step.mutations and step.history is snapshot.history and step.children == snapshot.children
                and (step.config or step.configuration()).key == snapshot._nodes):
            return snapshot, step.actions
        return self._snapshot(step), step.actions

    def _step(self, snapshot: Snapshot) -> Step:
        if snapshot.machine is not self:
            raise ValueError("this snapshot belongs to another machine; use machine.restore(snapshot.to_dict())")
        config = snapshot._config
        if config is None:
            config = snapshot._config = configuration(self, snapshot._nodes)
        return Step(self, config.nodes, snapshot.context, snapshot.status, snapshot.output,
                    snapshot.error, snapshot.history, snapshot.children, config)

    def _snapshot(self, step: Step) -> Snapshot:
        config = step.config or step.configuration()
        snapshot = Snapshot(self, config.key, step.context, step.status, step.output, step.error,
                            step.history, step.children)
        snapshot._config = config
        return snapshot


def _some_implementation_reads_sender(actions: Mapping[str, Any], guards: Mapping[str, Any]) -> bool:
    for implementation in (*actions.values(), *guards.values()):
        if getattr(implementation, "reads_sender", False) or (callable(implementation) and takes_sender(implementation)):
            return True
    return False


def _check_event(event: Any) -> None:
    if type(event) is dict and type(event.get("type")) is str:
        return
    if not isinstance(event, Mapping) or not isinstance(event.get("type"), str):
        raise TypeError(f'an event must be a dict with a string "type", got {event!r}')


def _initial_nodes(node: StateNode) -> list[StateNode]:
    """The node and, recursively, the initial children of compound and all regions of parallel states."""
    found: dict[StateNode, None] = {}

    def visit(current: StateNode) -> None:
        if current in found:
            return
        found[current] = None
        if current.type == "compound":
            assert current.initial is not None and current.initial.targets
            visit(current.initial.targets[0])
        elif current.type == "parallel":
            for child in current.children:
                visit(child)

    visit(node)
    return list(found)


def _initial_nodes_with_ancestors(node: StateNode) -> list[StateNode]:
    found = dict.fromkeys(_initial_nodes(node))
    for initial in list(found):
        for ancestor in initial.ancestors:
            if ancestor is node:
                break
            found.setdefault(ancestor, None)
    return list(found)


class MachineSetup:
    """Implementations waiting for a config: the result of `Machine.setup(...)`."""

    def __init__(self, actions: Mapping[str, Any] | None, guards: Mapping[str, Any] | None,
                 delays: Mapping[str, Any] | None, actors: Mapping[str, Any] | None) -> None:
        self.actions = dict(actions or {})
        self.guards = dict(guards or {})
        self.delays = dict(delays or {})
        self.actors = dict(actors or {})

    def create_machine(self, config: Mapping[str, Any], *, max_microsteps: int = 10_000) -> Machine:
        """The `Machine` for `config` with these implementations."""
        return Machine(config, actions=self.actions, guards=self.guards, delays=self.delays,
                       actors=self.actors, max_microsteps=max_microsteps)
