"""The statechart algorithm: selection, conflicts, exit and entry sets, history, macrosteps.

A faithful port of XState v5's `stateUtils` (which follows SCXML's algorithm with XState's own
transition domains). Everything here is pure: the only output is the `Step` it mutates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .actions import Action, BoundAction, StopChild
from .definition import UNRESOLVED, StateNode, Transition
from .errors import InfiniteLoopError
from .sender import NO_SENDER, Sender

Event = Mapping[str, Any]
History = dict[str, list[StateNode]]

INIT = "xstate.init"


class Step:
    """The mutable working state of one macrostep.

    `nodes` is the active configuration as an insertion-ordered set (a dict), exactly as XState
    keeps it: the order decides the order of parallel regions and of eventless transitions.
    """

    __slots__ = ("machine", "nodes", "config", "context", "status", "output", "error", "history", "children",
                 "queue", "actions", "mutations", "sender", "before", "entering", "taken", "_kids")

    def __init__(self, machine: Any, nodes: dict[StateNode, None], context: Any, status: str, output: Any,
                 error: Any, history: History, children: dict[str, str],
                 config: Configuration | None = None) -> None:
        self.machine = machine
        self.nodes = nodes
        self.config = config
        """The interned `Configuration` of `nodes` while they are one (None once changed in place)."""
        self.context = context
        self.status = status
        self.output = output
        self.error = error
        self.history = history
        self.children = children
        self.queue: deque[dict[str, Any]] = deque()
        self.actions: list[Action] = []
        self.mutations = 0
        self.sender: Sender = NO_SENDER
        self._kids: dict[StateNode, list[StateNode]] | None = None
        self.entering: StateNode | None = None
        """The state with `invoke` whose entry actions are running: its invoke ids may be
        sent to before they are spawned (XState's deferred actor ids)."""
        self.before: dict[StateNode, None] | None = None
        """The configuration when the current microstep began: what XState's actions see as
        the snapshot's state nodes (`check` in `enqueue_actions`)."""
        self.taken = False
        """Whether the macrostep's event selected a transition with a target or actions (what
        `Machine.can` answers), so that `Machine.take` selects once."""

    def configuration(self) -> Configuration:
        """The interned configuration of `nodes`."""
        config = self.config
        if config is None:
            config = self.config = configuration(self.machine, tuple(self.nodes))
        return config

    def kids(self) -> dict[StateNode, list[StateNode]]:
        """Active children of each active node, in configuration order."""
        kids = self._kids
        if kids is None:
            config = self.config
            kids = self._kids = children_map(self.nodes) if config is None else config.kids
        return kids

    def value(self) -> Any:
        config = self.config
        return value_from(self.machine.root, self.kids()) if config is None else config.value

    def run(self, actions: Iterable[BoundAction], event: Event) -> None:
        for action in actions:
            action.run(self, event)


def children_map(nodes: Iterable[StateNode]) -> dict[StateNode, list[StateNode]]:
    kids: dict[StateNode, list[StateNode]] = {}
    for node in nodes:
        parent = node.parent
        if parent is not None:
            siblings = kids.get(parent)
            if siblings is None:
                kids[parent] = [node]
            else:
                siblings.append(node)
    return kids


def value_from(node: StateNode, kids: Mapping[StateNode, list[StateNode]]) -> Any:
    """XState's StateValue: a leaf key for a compound state, else a dict per active child."""
    children = kids.get(node)
    if not children:
        return {}
    if node.type == "compound":
        child = children[0]
        if child.is_atomic:
            return child.key
    return {child.key: value_from(child, kids) for child in children}


# configurations ----------------------------------------------------------------------------

CACHE_LIMIT = 4096
"""Most configurations interned per machine."""
PLAN_LIMIT = 256
"""Most selections (event types) and microstep plans kept per configuration."""


class Configuration:
    """A set of active state nodes (in XState's order), interned per machine, with what depends
    on it alone computed once: the children map, the state value, the transitions each event
    type selects when no guard decides, and the microsteps taken from it (`MicroPlan`)."""

    __slots__ = ("key", "nodes", "_kids", "_value", "selections", "plans")

    def __init__(self, key: tuple[StateNode, ...]) -> None:
        self.key = key
        self.nodes = dict.fromkeys(key)
        """The nodes as an ordered set, shared by every step in this configuration: never
        changed in place (a microstep copies it first)."""
        self._kids: dict[StateNode, list[StateNode]] | None = None
        self._value: Any = None
        self.selections: dict[str, Any] = {}
        """Event type -> the transitions selected (a list: no guard decides) or a pruned
        selection tree (`_prune`) to walk with the guards."""
        self.plans: dict[Any, MicroPlan | None] = {}
        """Transition (or tuple of transitions) -> its microstep from here (None: not plannable)."""

    @property
    def kids(self) -> dict[StateNode, list[StateNode]]:
        kids = self._kids
        if kids is None:
            kids = self._kids = children_map(self.key)
        return kids

    @property
    def value(self) -> Any:
        """The state value, shared by every snapshot in this configuration (read-only)."""
        value = self._value
        if value is None:
            value = self._value = value_from(self.key[0].machine.root, self.kids)
        return value


def configuration(machine: Any, key: tuple[StateNode, ...]) -> Configuration:
    """The interned configuration of `key` (a fresh, uncached one once the machine holds
    `CACHE_LIMIT`: a machine has finitely many, but history and restores can make many)."""
    known = machine.configurations.get(key)
    if known is None:
        known = Configuration(key)
        if len(machine.configurations) < CACHE_LIMIT:
            machine.configurations[key] = known
    return known


# selection ---------------------------------------------------------------------------------


def select_transitions(step: Step, event: Event) -> list[Transition]:
    """Innermost first; a parent is consulted only when no active descendant has a transition.

    Per configuration and event type the active nodes without a candidate are pruned once,
    and the selection is kept outright when no candidate has a guard."""
    config = step.config or step.configuration()
    event_type = event["type"]
    selection = config.selections.get(event_type)
    if selection is None:
        tree = _prune(step.machine.root, config.kids, event_type)
        if tree is None:
            selection = []
        elif _guarded(tree, event_type):
            selection = tree
        else:
            selection = _choose(tree, step, event)
        if len(config.selections) < PLAN_LIMIT:
            config.selections[event_type] = selection
    if type(selection) is list:
        return selection
    return _choose(selection, step, event)


def _prune(node: StateNode, kids: Mapping[StateNode, list[StateNode]], event_type: str) -> Any:
    """`(node or None, [subtrees])` of the active nodes under `node` with candidates for
    `event_type` (None: there are none); a node without candidates and one subtree is skipped."""
    subtrees = []
    for child in kids.get(node, ()):
        subtree = _prune(child, kids, event_type)
        if subtree is not None:
            subtrees.append(subtree)
    own = node if node.candidates(event_type) else None
    if own is None and len(subtrees) < 2:
        return subtrees[0] if subtrees else None
    return (own, subtrees)


def _guarded(tree: Any, event_type: str) -> bool:
    own, subtrees = tree
    if own is not None and any(t.guard is not None for t in own.candidates(event_type)):
        return True
    return any(_guarded(subtree, event_type) for subtree in subtrees)


def _choose(tree: Any, step: Step, event: Event) -> list[Transition]:
    """`_select` on a pruned tree: the subtrees' transitions, else the node's own."""
    own, subtrees = tree
    found: list[Transition] = []
    for subtree in subtrees:
        found.extend(_choose(subtree, step, event))
    if found or own is None:
        return found
    transition = own.next(step.context, event, step)
    return [transition] if transition is not None else []


def select_eventless_transitions(step: Step, event: Event) -> list[Transition]:
    if not step.machine.has_always:
        return []
    enabled: dict[Transition, None] = {}
    context = step.context
    for leaf in [n for n in step.nodes if n.is_atomic]:
        for state in leaf.always_chain:
            found = None
            for transition in state.always:
                guard = transition.guard
                if guard is None or guard.test(context, event, step):
                    found = transition
                    break
            if found is not None:
                enabled[found] = None
                break
    if not enabled:
        return []
    return remove_conflicting_transitions(list(enabled), step.nodes, step.history)


# domains, exit sets and conflicts ----------------------------------------------------------


def is_descendant(child: StateNode, parent: StateNode | None) -> bool:
    """Strict descendant; every node counts as a descendant of `None` (no domain)."""
    return parent is None or parent in child.ancestor_set


def effective_targets(transition: Transition, history: History) -> list[StateNode]:
    if not transition.targets:
        return []
    targets: dict[StateNode, None] = {}
    for target in transition.targets:
        if target.type == "history":
            recorded = history.get(target.id)
            if recorded is not None:
                for node in recorded:
                    targets[node] = None
            else:
                default = target.history_target
                assert default is not None
                for node in effective_targets(default, history):
                    targets[node] = None
        else:
            targets[target] = None
    return list(targets)


def _uses_history(transition: Transition) -> bool:
    return any(t.type == "history" for t in transition.targets or ())


def transition_domain(transition: Transition, history: History) -> StateNode | None:
    """The state whose descendants the transition exits and enters (None: everything)."""
    cached = transition._domain
    if cached is not UNRESOLVED:
        return cached
    domain = _compute_domain(transition, history)
    if not _uses_history(transition):
        transition._domain = domain
    return domain


def _compute_domain(transition: Transition, history: History) -> StateNode | None:
    source = transition.source
    targets = effective_targets(transition, history)
    if not transition.reenter and all(t is source or source in t.ancestor_set for t in targets):
        return source
    lca = least_common_ancestor([*targets, source])
    if lca is not None:
        return lca
    if transition.reenter:
        return None
    return source.machine.root


def least_common_ancestor(nodes: list[StateNode]) -> StateNode | None:
    head, *tail = nodes
    for ancestor in head.ancestors:
        if all(ancestor in node.ancestor_set for node in tail):
            return ancestor
    return None


def exit_set(transitions: Iterable[Transition], nodes: Iterable[StateNode], history: History) -> dict[StateNode, None]:
    to_exit: dict[StateNode, None] = {}
    for transition in transitions:
        if transition.targets:
            domain = transition_domain(transition, history)
            if transition.reenter and transition.source is domain:
                to_exit[domain] = None
            if domain is None:
                for node in nodes:
                    to_exit[node] = None
            else:
                for node in nodes:
                    if domain in node.ancestor_set:
                        to_exit[node] = None
    return to_exit


def remove_conflicting_transitions(transitions: list[Transition], nodes: Mapping[StateNode, None], history: History) -> list[Transition]:
    if len(transitions) < 2:
        return transitions
    filtered: list[Transition] = []
    exits: dict[Transition, dict[StateNode, None]] = {}

    def exits_of(t: Transition) -> dict[StateNode, None]:
        found = exits.get(t)
        if found is None:
            found = exits[t] = exit_set((t,), nodes, history)
        return found

    for t1 in transitions:
        preempted = False
        to_remove: list[Transition] = []
        for t2 in filtered:
            e1, e2 = exits_of(t1), exits_of(t2)
            if any(n in e2 for n in e1):
                if is_descendant(t1.source, t2.source):
                    to_remove.append(t2)
                else:
                    preempted = True
                    break
        if not preempted:
            for t3 in to_remove:
                filtered.remove(t3)
            if t1 not in filtered:
                filtered.append(t1)
    return filtered


# entry sets --------------------------------------------------------------------------------


def compute_entry_set(transitions: list[Transition], history: History, default_entry: dict[StateNode, None],
                      to_enter: dict[StateNode, None]) -> None:
    for transition in transitions:
        domain = transition_domain(transition, history)
        source = transition.source
        for target in transition.targets or ():
            if target.type != "history" and (source is not target or source is not domain or transition.reenter):
                to_enter[target] = None
                default_entry[target] = None
            add_descendants_to_enter(target, history, default_entry, to_enter)
        reentrancy_domain = None if (source.parent is None and transition.reenter) else domain
        for target in effective_targets(transition, history):
            ancestors = list(_proper_ancestors(target, domain))
            if domain is not None and domain.type == "parallel":
                ancestors.append(domain)
            add_ancestors_to_enter(to_enter, history, default_entry, ancestors, reentrancy_domain)


def _proper_ancestors(node: StateNode, stop: StateNode | None) -> list[StateNode]:
    if node is stop:
        return []
    found = []
    for ancestor in node.ancestors:
        if ancestor is stop:
            break
        found.append(ancestor)
    return found


def _has_descendant_in(to_enter: Mapping[StateNode, None], node: StateNode) -> bool:
    return any(node in s.ancestor_set for s in to_enter)


def add_descendants_to_enter(node: StateNode, history: History, default_entry: dict[StateNode, None],
                             to_enter: dict[StateNode, None]) -> None:
    if node.type == "history":
        parent = node.parent
        recorded = history.get(node.id)
        if recorded is not None:
            for state in recorded:
                to_enter[state] = None
                add_descendants_to_enter(state, history, default_entry, to_enter)
            for state in recorded:
                add_ancestors_to_enter(to_enter, history, default_entry, _proper_ancestors(state, parent), None)
        else:
            default = node.history_target
            assert default is not None and parent is not None
            for state in default.targets or ():
                to_enter[state] = None
                if default is parent.initial:
                    default_entry[parent] = None
                add_descendants_to_enter(state, history, default_entry, to_enter)
            for state in default.targets or ():
                add_ancestors_to_enter(to_enter, history, default_entry, _proper_ancestors(state, parent), None)
    elif node.type == "compound":
        assert node.initial is not None and node.initial.targets
        initial = node.initial.targets[0]
        if initial.type != "history":
            to_enter[initial] = None
            default_entry[initial] = None
        add_descendants_to_enter(initial, history, default_entry, to_enter)
        add_ancestors_to_enter(to_enter, history, default_entry, _proper_ancestors(initial, node), None)
    elif node.type == "parallel":
        for child in node.children:
            if not _has_descendant_in(to_enter, child):
                to_enter[child] = None
                default_entry[child] = None
                add_descendants_to_enter(child, history, default_entry, to_enter)


def add_ancestors_to_enter(to_enter: dict[StateNode, None], history: History, default_entry: dict[StateNode, None],
                           ancestors: Iterable[StateNode], reentrancy_domain: StateNode | None) -> None:
    for ancestor in ancestors:
        if reentrancy_domain is None or reentrancy_domain in ancestor.ancestor_set:
            to_enter[ancestor] = None
        if ancestor.type == "parallel":
            for child in ancestor.children:
                if not _has_descendant_in(to_enter, child):
                    to_enter[child] = None
                    add_descendants_to_enter(child, history, default_entry, to_enter)


# microstep / macrostep ---------------------------------------------------------------------


def is_in_final_state(nodes: Mapping[StateNode, None], node: StateNode) -> bool:
    if node.type == "compound":
        return any(child.type == "final" and child in nodes for child in node.children)
    if node.type == "parallel":
        return all(is_in_final_state(nodes, child) for child in node.children)
    return node.type == "final"


def _resolve(value: Any, context: Any, event: Event) -> Any:
    return value(context, event) if callable(value) else value


def microstep(step: Step, transitions: list[Transition], event: Event, is_initial: bool = False) -> bool:
    """Take one set of transitions; return whether the snapshot changed."""
    if not transitions:
        return False
    config = step.config
    if config is not None and not is_initial:
        key = transitions[0] if len(transitions) == 1 else tuple(transitions)
        plan = config.plans.get(key, UNRESOLVED)
        if plan is UNRESOLVED:
            plan = MicroPlan.of(config, transitions)
            if len(config.plans) < PLAN_LIMIT:
                config.plans[key] = plan
        if plan is not None:
            return plan.take(step, event)
    mutations = step.mutations
    history = step.history
    before = step.nodes
    step.before = dict(before) if is_initial else before  # the initial microstep fills `nodes` in place
    filtered = remove_conflicting_transitions(transitions, before, history)
    if not is_initial:
        step.nodes = dict(before)  # keep `before` intact: XState keeps its order when the set is unchanged
    step.config = None
    step._kids = None
    exited = () if is_initial else _exit_states(step, filtered, event)
    for transition in filtered:
        if transition.actions:
            step.run(transition.actions, event)
    added = _enter_states(step, filtered, event, is_initial)
    if step.status == "done":
        for node in sorted(step.nodes, key=_order, reverse=True):
            if node.exit:
                step.run(node.exit, event)
    same_nodes = len(exited) == len(added) and set(exited) == set(added)
    if same_nodes and step.history is history and step.nodes is not before:
        step.nodes = before
        step.config = config
        step._kids = None
    return step.mutations != mutations or step.history is not history or not same_nodes


class MicroPlan:
    """One microstep from one configuration worked out once: the transitions left after
    conflicts, the actions to run in order, and the configuration it ends in.

    Only for microsteps where history plays no part (no history target, no exited state with
    history children) and no final state is entered: there, what happens depends on the
    configuration and the transitions alone. The others take `microstep`'s general path."""

    __slots__ = ("transitions", "exits", "entries", "target", "changed")

    def __init__(self, transitions: list[Transition], exits: list[list[BoundAction]],
                 entries: list[tuple[StateNode | None, list[BoundAction]]], target: Configuration,
                 changed: bool) -> None:
        self.transitions = transitions
        self.exits = exits
        """Exit actions and service stops of the exited states, innermost first."""
        self.entries = entries
        """(the state being entered when it invokes services, else None; its entry actions,
        service starts and initial transition's actions) in entry order."""
        self.target = target
        self.changed = changed

    @classmethod
    def of(cls, config: Configuration, transitions: list[Transition]) -> MicroPlan | None:
        if any(_uses_history(t) for t in transitions):
            return None
        before = config.nodes
        filtered = remove_conflicting_transitions(transitions, before, {})
        to_exit = sorted(exit_set(filtered, before, {}), key=_order, reverse=True)
        if any(state.history_children for state in to_exit):
            return None
        to_enter: dict[StateNode, None] = {}
        default_entry: dict[StateNode, None] = {}
        compute_entry_set(filtered, {}, default_entry, to_enter)
        if any(state.type == "final" for state in to_enter) or any(_touches_history(t, to_enter) for t in filtered):
            return None
        entering = sorted(to_enter, key=_order)
        exits = [actions for state in to_exit for actions in (state.exit, state.stops) if actions]
        entries = []
        for state in entering:
            actions = [*state.entry, *state.spawns]
            if state.initial is not None and state.initial.actions and state in default_entry:
                actions.extend(state.initial.actions)
            if actions:
                entries.append((state if state.spawns else None, actions))
        nodes = dict(before)
        for state in to_exit:
            del nodes[state]
        added = [state for state in entering if state not in nodes]
        same_nodes = len(to_exit) == len(added) and set(to_exit) == set(added)
        if same_nodes:
            target = config
        else:
            for state in entering:
                nodes[state] = None
            target = configuration(config.key[0].machine, tuple(nodes))
        return cls(filtered, exits, entries, target, not same_nodes)

    def take(self, step: Step, event: Event) -> bool:
        """Run the microstep on `step` (in this plan's configuration); whether it changed."""
        mutations = step.mutations
        step.before = step.nodes
        run = step.run
        for actions in self.exits:
            run(actions, event)
        for transition in self.transitions:
            if transition.actions:
                run(transition.actions, event)
        for state, actions in self.entries:
            step.entering = state
            run(actions, event)
        step.entering = None
        target = self.target
        step.config = target
        step.nodes = target.nodes
        step._kids = None
        return self.changed or step.mutations != mutations


def _order(node: StateNode) -> int:
    return node.order


def _exit_states(step: Step, transitions: list[Transition], event: Event) -> list[StateNode]:
    nodes = step.nodes
    history = step.history
    to_exit = sorted(exit_set(transitions, nodes, history), key=_order, reverse=True)
    if not to_exit:
        return to_exit
    changed: History | None = None
    for state in to_exit:
        for history_node in state.history_children:
            if changed is None:
                changed = dict(history)
            if history_node.history == "deep":
                changed[history_node.id] = [n for n in nodes if n.is_atomic and state in n.ancestor_set]
            else:
                changed[history_node.id] = [n for n in nodes if n.parent is state]
    for state in to_exit:
        if state.exit:
            step.run(state.exit, event)
        if state.stops:
            step.run(state.stops, event)
        del nodes[state]
    step._kids = None
    if changed is not None:
        step.history = changed
    return to_exit


def entry_plan(step: Step, transitions: list[Transition]) -> tuple[list[StateNode], dict[StateNode, None]]:
    """States to enter (document order) and those entered by default; cached when history plays no part."""
    single = transitions[0] if len(transitions) == 1 else None
    if single is not None:
        if single._entry is not None:
            return single._entry
        key: Any = None
    else:
        key = tuple(transitions)
        cached = step.machine.entry_plans.get(key)
        if cached is not None:
            return cached
    to_enter: dict[StateNode, None] = {}
    default_entry: dict[StateNode, None] = {}
    compute_entry_set(transitions, step.history, default_entry, to_enter)
    plan = (sorted(to_enter, key=_order), default_entry)
    if not any(_touches_history(t, to_enter) for t in transitions):
        if single is not None:
            single._entry = plan
        elif len(step.machine.entry_plans) < 4096:
            step.machine.entry_plans[key] = plan
    return plan


def _touches_history(transition: Transition, to_enter: Mapping[StateNode, None]) -> bool:
    for node in (*(transition.targets or ()), *to_enter):
        if node.type == "history":
            return True
        if node.initial is not None and node.initial.targets and node.initial.targets[0].type == "history":
            return True
    return False


def _enter_states(step: Step, transitions: list[Transition], event: Event, is_initial: bool) -> list[StateNode]:
    to_enter, default_entry = entry_plan(step, transitions)
    root = step.machine.root
    nodes = step.nodes
    added = [state for state in to_enter if state not in nodes]
    completed: set[StateNode] = set()
    for state in to_enter:
        nodes[state] = None
        step._kids = None
        if state.spawns:
            step.entering = state
            if state.entry:
                step.run(state.entry, event)
            step.run(state.spawns, event)
        elif state.entry:
            step.run(state.entry, event)
        if state.initial is not None and state.initial.actions and (state in default_entry or (is_initial and state is root)):
            step.run(state.initial.actions, event)
        step.entering = None
        if state.type != "final":
            continue
        parent = state.parent
        marker = parent if parent is not None and parent.type == "parallel" else (parent.parent if parent else None)
        completion = marker or state
        if parent is not None and parent.type == "compound":
            done: dict[str, Any] = {"type": f"xstate.done.state.{parent.id}"}
            if state.has_output:
                done["output"] = _resolve(state.output, step.context, event)
            step.queue.append(done)
        while marker is not None and marker.type == "parallel" and marker not in completed and is_in_final_state(nodes, marker):
            completed.add(marker)
            step.queue.append({"type": f"xstate.done.state.{marker.id}"})
            completion = marker
            marker = marker.parent
        if marker is not None:
            continue
        step.status = "done"
        step.mutations += 1
        step.output = _machine_output(step, event, root, completion)
    return added


def _machine_output(step: Step, event: Event, root: StateNode, completion: StateNode) -> Any:
    if not root.has_output:
        return None
    done_event: dict[str, Any] = {"type": f"xstate.done.state.{completion.id}"}
    if completion.has_output and completion.parent is not None:
        done_event["output"] = _resolve(completion.output, step.context, event)
    return _resolve(root.output, step.context, done_event)


def macrostep(step: Step, event: Event, max_microsteps: int) -> None:
    """Process `event`, then eventless transitions and raised events until stable."""
    if step.status != "active":
        return
    event_type = event["type"]
    if event_type != INIT:
        transitions = select_transitions(step, event)
        for transition in transitions:
            if transition.targets is not None or transition.actions:
                step.taken = True
                break
        if not transitions and event_type.startswith("xstate.error.actor"):
            step.status = "error"
            step.error = event.get("error")
            step.mutations += 1
            _stop_children(step, event)
            return
        microstep(step, transitions, event)
        if not step.queue and not step.machine.has_always and step.status == "active":
            return  # nothing raised and no eventless transitions: the macrostep is over
    check_eventless = True
    iterations = 0
    next_event = event
    queue = step.queue
    while step.status == "active":
        iterations += 1
        if iterations > max_microsteps:
            raise InfiniteLoopError(
                f"machine {step.machine.id!r} took more than {max_microsteps} microsteps for event "
                f"{event_type!r} without settling: a cycle of 'always' transitions or raised events"
            )
        enabled = select_eventless_transitions(step, next_event) if check_eventless else []
        if enabled:
            check_eventless = microstep(step, enabled, next_event)
            continue
        if not queue:
            break
        next_event = queue.popleft()
        microstep(step, select_transitions(step, next_event), next_event)
        check_eventless = True
    if step.status != "active":
        _stop_children(step, next_event)


def _stop_children(step: Step, event: Event) -> None:
    if step.children:
        step.run([BoundAction(StopChild(child_id)) for child_id in list(step.children)], event)
