"""Migrations between machine versions, and the plan of one instance's upgrade.

A `Migration` is two small, pure functions of the old instance: where each active leaf state
goes (`state`, a table of dotted paths; unlisted leaves keep their path) and what the new
context is (`context`). The server chains registered migrations (v1 -> v2 -> v3) and applies
the upgrade as one logged transition, `statesync.upgrade`:

1. the old machine's `stop_actions`: cancels for the active states' `after` timers, stops
   for their invoked services (no exit actions: nothing is being exited for real);
2. the snapshot data goes through each migration of the path (leaves and history mapped,
   context mapped);
3. the new machine's `start_at`: timers and invoked services of every active state start as
   if entered (no entry actions: nobody gets a second welcome e-mail).

A timer cancelled in (1) and started again in (3) under the same id (same delay, same state
id) is left alone instead: it keeps its original due time and fires once. So does the `after`
timer of a state the migration renames or moves: when the old state's pending `after` and the
new state's have the same delay (by name or in ms), and it is the only pair of that delay,
the new timer takes the old one's due time (a 7-day grace period two days in still ends five
days later). Other timers of the new states start afresh, as if entered at the upgrade.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from statesync.actions import Action
from statesync.algorithm import children_map, value_from
from statesync.snapshot import to_state_path

from .errors import ErrorCode, StatesyncError

UPGRADE = "statesync.upgrade"
_RAISE, _CANCEL, _AFTER = "xstate.raise", "xstate.cancel", "xstate.after."


class MigrationError(ValueError):
    """A migration that cannot be applied to the registered versions (found at start-up)."""


@dataclass(frozen=True)
class Migration:
    """Moves instances of `machine` from `from_version` to `to_version`.

    `state` maps old active leaf state paths (dotted, from the root, e.g. `"trial.active"`)
    to new state paths; a target may be a compound state (its initial child is entered).
    Leaves not listed keep their path, which must then exist in the new version. Recorded
    history goes through the same table. `context(old_context) -> new_context`, or
    `context(old_context, old_value)` to see the old state value too (e.g. `"past_due"`, or
    `{"billing": "retrying"}`) and fix a stored status when a state is renamed (default:
    unchanged).
    """

    machine: str
    from_version: str
    to_version: str
    state: Mapping[str, str] = field(default_factory=dict)
    context: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_version", str(self.from_version))
        object.__setattr__(self, "to_version", str(self.to_version))
        object.__setattr__(self, "state", dict(self.state))
        if self.from_version == self.to_version:
            raise ValueError("a migration goes from one version to another")

    def __str__(self) -> str:
        return f"{self.machine} v{self.from_version} -> v{self.to_version}"

    def apply(self, data: dict[str, Any], old: Any, new: Any) -> dict[str, Any]:
        """Snapshot data of machine `old` (from `Snapshot.to_dict()`) as data of machine `new`."""
        snapshot = old.restore(data)
        leaves = [n for n in snapshot._nodes if n.is_atomic]
        targets = [self._target(node, new) for node in leaves]
        nodes = _with_ancestors(targets)
        _check_configuration(nodes, self)
        value = value_from(new.root, children_map(sorted(nodes, key=lambda n: n.order)))
        value = new.restore({"value": value}).value  # compound targets enter their initial child
        history: dict[str, list[str]] = {}
        for key, recorded in snapshot.history.items():
            node = new.id_map.get(key) or _by_path(new, old.id_map[key].path)
            if node is None or node.type != "history":
                continue  # the history state is gone: its parent enters its initial state
            mapped = [self._target(n, new, strict=False) for n in recorded]
            if all(m is not None and node.parent in m.ancestor_set for m in mapped):
                history[node.id] = [m.id for m in mapped]  # type: ignore[union-attr]
        context = data.get("context")
        if self.context is not None:
            reads_state = _positional_parameters(self.context) >= 2
            context = self.context(context, snapshot.value) if reads_state else self.context(context)
        return {**data, "value": value, "context": context, "historyValue": history,
                "status": "active"}

    def _target(self, node: Any, new: Any, strict: bool = True) -> Any:
        path = ".".join(node.path)
        target_path = self.state.get(path, path)
        found = _by_path(new, tuple(to_state_path(target_path)) if target_path else ())
        if found is None and strict:
            how = "mapped to" if path in self.state else "kept at"
            raise MigrationError(
                f"{self}: state {path!r} is {how} {target_path!r}, which version "
                f"{self.to_version} does not have; add it to the migration's `state` table"
            )
        return found

    def check(self, old: Any, new: Any) -> None:
        """Raise `MigrationError` unless every leaf of `old` has a place in `new`."""
        for key, target in self.state.items():
            if _by_path(old, tuple(to_state_path(key))) is None:
                raise MigrationError(f"{self}: version {self.from_version} has no state {key!r}")
            if _by_path(new, tuple(to_state_path(target))) is None:
                raise MigrationError(f"{self}: version {self.to_version} has no state {target!r}")
        for node in old.id_map.values():
            if node.is_atomic and node.type != "history":
                self._target(node, new)


def _by_path(machine: Any, path: tuple[str, ...]) -> Any:
    node = machine.root
    for key in path:
        node = node.states.get(key)
        if node is None:
            return None
    return node


def _positional_parameters(fn: Callable[..., Any]) -> int:
    """How many positional arguments `fn` takes (`*args`: any number)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _with_ancestors(nodes: list[Any]) -> set[Any]:
    out: set[Any] = set()
    for node in nodes:
        out.add(node)
        out.update(node.ancestors)
    return out


def _check_configuration(nodes: set[Any], migration: Migration) -> None:
    for node in nodes:
        if node.type == "compound":
            active = [c.key for c in node.children if c in nodes]
            if len(active) > 1:
                where = ".".join(node.path) or "(root)"
                raise MigrationError(
                    f"{migration}: the state table puts {where!r} in several states at once "
                    f"({', '.join(active)})"
                )


# --- paths and plans ------------------------------------------------------------------------


def find_path(app: Any, machine: str, from_version: str, to_version: str) -> list[Migration]:
    """The shortest chain of registered migrations, or a `no-upgrade-path` error."""
    if from_version == to_version:
        return []
    edges: dict[str, list[Migration]] = {}
    for m in app.migrations:
        if m.machine == machine and m.to_version in app.versions.get(machine, {}):
            edges.setdefault(m.from_version, []).append(m)
    previous: dict[str, Migration] = {}
    queue, seen = deque([from_version]), {from_version}
    while queue:
        version = queue.popleft()
        if version == to_version:
            path: list[Migration] = []
            while version != from_version:
                step = previous[version]
                path.append(step)
                version = step.from_version
            return path[::-1]
        for step in edges.get(version, ()):
            if step.to_version not in seen:
                seen.add(step.to_version)
                previous[step.to_version] = step
                queue.append(step.to_version)
    reachable = sorted(seen - {from_version})
    raise StatesyncError(
        ErrorCode.NO_UPGRADE_PATH,
        f"no migration path for {machine!r} from version {from_version} to {to_version}"
        + (f" (reachable from {from_version}: {', '.join(reachable)})" if reachable else
           f" (no migration from version {from_version} is registered)"),
    )


@dataclass(frozen=True, slots=True)
class UpgradePlan:
    """What one upgrade does to an instance; the engine commits it as one transition."""

    from_version: str
    to_version: str
    path: list[str]
    snapshot: Any
    actions: list[Any]
    event: dict[str, Any]


def plan_upgrade(app: Any, machine: str, from_version: str, snapshot: Any,
                 to_version: str, dues: Mapping[str, float] | None = None) -> UpgradePlan:
    """Move `snapshot` (of `machine` at `from_version`) to `to_version`: the new snapshot
    and the actions to carry out (timer cancels/starts, service stops/starts). `dues`: the
    instance's pending timers' due times (timer id -> epoch seconds), for the timers of
    renamed states to keep theirs (a start then carries `due`)."""
    migrations = find_path(app, machine, from_version, to_version)
    versions = [from_version, *(m.to_version for m in migrations)]
    event = {"type": UPGRADE, "from": from_version, "to": to_version, "path": versions}
    old_machine = app.version_spec(machine, from_version).machine
    stops = old_machine.stop_actions(snapshot, event)
    data = snapshot.to_dict()
    current = old_machine
    for step in migrations:
        target = app.version_spec(machine, step.to_version).machine
        try:
            data = step.apply(data, current, target)
        except (MigrationError, ValueError) as exc:
            raise StatesyncError(ErrorCode.NO_UPGRADE_PATH, str(exc)) from None
        current = target
    new, starts = current.start_at(data["value"], data["context"], data["historyValue"], event)
    actions = _keep_timers(stops, starts, dues or {}, old_machine, current)
    return UpgradePlan(from_version, to_version, versions, new, actions, event)


def _keep_timers(stops: list[Any], starts: list[Any], dues: Mapping[str, float],
                 old: Any, new: Any) -> list[Any]:
    """Drop a cancel and a start of the same timer id: the pending timer keeps its due time.
    A renamed state's `after` timer (the only pair of its delay) starts with the old due time."""
    cancelled = {a.params.get("id") for a in stops if a.type == _CANCEL}
    restarted = {a.params.get("id") for a in starts if a.type == _RAISE} & cancelled
    stops = [a for a in stops if not (a.type == _CANCEL and a.params.get("id") in restarted)]
    starts = [a for a in starts if not (a.type == _RAISE and a.params.get("id") in restarted)]
    old_after = _after_by_delay([a.params["id"] for a in stops if a.type == _CANCEL], old)
    new_after = _after_by_delay([a.params["id"] for a in starts if a.type == _RAISE], new)
    carried: dict[str, float] = {}
    for delay, ids in new_after.items():
        previous = old_after.get(delay, [])
        if len(ids) == 1 and len(previous) == 1 and previous[0] in dues:
            carried[ids[0]] = dues[previous[0]]
    return stops + [
        Action(a.type, {**a.params, "due": carried[a.params["id"]]}, a.event, a.context)
        if a.type == _RAISE and a.params.get("id") in carried else a for a in starts]


def _after_by_delay(timer_ids: list[str], machine: Any) -> dict[str, list[str]]:
    """`after` timer ids (`xstate.after.<delay>.<state id>`) grouped by their delay."""
    grouped: dict[str, list[str]] = {}
    for timer_id in timer_ids:
        if not timer_id.startswith(_AFTER):
            continue
        owners = [n for n in machine.id_map if timer_id.endswith("." + n)
                  and len(timer_id) > len(_AFTER) + len(n) + 1]
        if owners:
            state_id = max(owners, key=len)
            grouped.setdefault(timer_id[len(_AFTER):-len(state_id) - 1], []).append(timer_id)
    return grouped
