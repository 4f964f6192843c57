"""`Snapshot`: the state of one machine instance, and state-value matching."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .algorithm import Configuration
    from .definition import StateNode
    from .machine import Machine

StateValue = Any  # str | dict[str, StateValue]


def to_state_path(path: str) -> list[str]:
    """Split `"a.b.c"` into keys; a backslash escapes a dot."""
    keys, segment, index = [], "", 0
    while index < len(path):
        char = path[index]
        if char == "\\" and index + 1 < len(path):
            segment += path[index + 1]
            index += 2
            continue
        if char == ".":
            keys.append(segment)
            segment = ""
        else:
            segment += char
        index += 1
    keys.append(segment)
    return keys


def to_state_value(value: StateValue) -> StateValue:
    """`"a.b.c"` -> `{"a": {"b": "c"}}`; dicts are returned as they are."""
    if not isinstance(value, str):
        return value
    keys = to_state_path(value)
    result: StateValue = keys[-1]
    for key in reversed(keys[:-1]):
        result = {key: result}
    return result


def matches_state(parent: StateValue, child: StateValue) -> bool:
    """Whether state value `child` is in (or under) `parent`, as XState's `matchesState`."""
    parent, child = to_state_value(parent), to_state_value(child)
    if isinstance(child, str):
        return isinstance(parent, str) and child == parent
    if isinstance(parent, str):
        return parent in child
    return all(key in child and matches_state(sub, child[key]) for key, sub in parent.items())


class Snapshot:
    """An immutable view of a machine instance: `value`, `context`, `tags`, `status`, `output`.

    Treat `context` and `value` as read-only: `assign` always builds a new dict, and snapshots
    in the same configuration share one `value`.
    """

    __slots__ = ("machine", "_nodes", "_config", "context", "status", "output", "error", "history", "children",
                 "_value", "_tags")

    def __init__(self, machine: Machine, nodes: tuple[StateNode, ...], context: Any, status: str = "active",
                 output: Any = None, error: Any = None, history: Mapping[str, list[StateNode]] | None = None,
                 children: Mapping[str, str] | None = None) -> None:
        self.machine = machine
        self._nodes = nodes
        self._config: Configuration | None = None
        self.context = context
        self.status = status
        self.output = output
        self.error = error
        self.history: Mapping[str, list[StateNode]] = history if history is not None else {}
        self.children: Mapping[str, str] = children if children is not None else {}
        self._value: StateValue = None
        self._tags: frozenset[str] | None = None

    @property
    def value(self) -> StateValue:
        """The active states as XState's StateValue: `"a"` or `{"a": "b", "p": {"x": "y"}}`."""
        value = self._value
        if value is None:
            config = self._config
            if config is None:
                from .algorithm import configuration

                config = self._config = configuration(self.machine, self._nodes)
            value = self._value = config.value
        return value

    @property
    def tags(self) -> frozenset[str]:
        """The tags of every active state."""
        if self._tags is None:
            self._tags = frozenset(tag for node in self._nodes for tag in node.tags)
        return self._tags

    @property
    def state_ids(self) -> list[str]:
        """Ids of the active state nodes, root first, in document order."""
        return [node.id for node in sorted(self._nodes, key=lambda n: n.order)]

    def matches(self, value: StateValue) -> bool:
        """`snapshot.matches("a.b")` or `snapshot.matches({"a": "b"})`."""
        return matches_state(value, self.value)

    def get_meta(self) -> dict[str, Any]:
        """`{state id: meta}` for the active states whose config has a `meta` (XState's `getMeta()`)."""
        return {node.id: node.meta for node in self._nodes if "meta" in node.config}

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags

    def can(self, event: Mapping[str, Any]) -> bool:
        """Whether some transition would accept `event` now (see `Machine.can`)."""
        return self.machine.can(self, event)

    @property
    def next_events(self) -> list[str]:
        """The event descriptors the active states handle (see `Machine.next_events`)."""
        return self.machine.next_events(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the server persists; `Machine.restore` turns it back into a snapshot."""
        return {
            "value": self.value,
            "context": self.context,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "historyValue": {key: [node.id for node in nodes] for key, nodes in self.history.items()},
            "children": dict(self.children),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.machine is other.machine and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Snapshot(value={self.value!r}, status={self.status!r}, context={self.context!r})"
