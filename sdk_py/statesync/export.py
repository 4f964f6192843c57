"""Export a machine: XState JSON config and Mermaid `stateDiagram-v2`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._callables import name_of
from .actions import ActionImplementation
from .guards import GuardHelper, guard_to_config

if TYPE_CHECKING:
    from .definition import StateNode, Transition
    from .machine import Machine

_GUARD_KEYS = frozenset({"guard"})


def to_config(machine: Machine) -> dict[str, Any]:
    """The machine's config as JSON-safe XState v5 config; implementations appear by name."""
    return _jsonable(machine.config, key=None)


def _jsonable(value: Any, key: str | None) -> Any:
    if key in _GUARD_KEYS:
        return _jsonable(guard_to_config(value), key=None)
    if isinstance(value, ActionImplementation):
        return value.to_config()
    if isinstance(value, GuardHelper):
        return guard_to_config(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, key if key in _GUARD_KEYS else None) for v in value]
    if callable(value):
        return name_of(value)
    return value


def to_mermaid(machine: Machine) -> str:
    """A Mermaid `stateDiagram-v2`: compound states nest, parallel regions are split by `--`."""
    lines = ["stateDiagram-v2"]
    _draw_children(machine.root, lines, indent="    ")
    return "\n".join(lines) + "\n"


def _mermaid_id(node: StateNode) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in node.id)


def _draw_children(node: StateNode, lines: list[str], indent: str) -> None:
    if node.type == "compound" and node.initial is not None and node.initial.targets:
        lines.append(f"{indent}[*] --> {_mermaid_id(node.initial.targets[0])}")
    children = list(node.states.values())
    for index, child in enumerate(children):
        if node.type == "parallel" and index > 0:
            lines.append(f"{indent}--")
        _draw_state(child, lines, indent)
    for child in children:
        _draw_transitions(child, lines, indent)


def _draw_state(node: StateNode, lines: list[str], indent: str) -> None:
    ident = _mermaid_id(node)
    label = node.key
    if node.type == "history":
        label = f"{node.key} (H{'*' if node.history == 'deep' else ''})"
    lines.append(f'{indent}state "{label}" as {ident}')
    if node.type in ("compound", "parallel"):
        lines.append(f"{indent}state {ident} {{")
        _draw_children(node, lines, indent + "    ")
        lines.append(f"{indent}}}")
    if node.type == "final":
        lines.append(f"{indent}{ident} --> [*]")
    for tag in node.tags:
        lines.append(f"{indent}note right of {ident}: tag {tag}")


def _draw_transitions(node: StateNode, lines: list[str], indent: str) -> None:
    labelled: list[tuple[str, Transition]] = [(event, t) for event, ts in node.transitions.items() for t in ts]
    labelled += [("always", t) for t in node.always]
    for event, transition in labelled:
        label = event
        if event.startswith("xstate.after."):
            delay = event[len("xstate.after."):len(event) - len(node.id) - 1]  # after.D.<node>
            label = f"after {delay}ms" if _is_number(delay) else f"after {delay}"
        if transition.guard is not None:
            guard = transition.config.get("guard")
            label += f" [{_guard_label(guard)}]"
        for target in transition.targets or (node,):
            lines.append(f"{indent}{_mermaid_id(node)} --> {_mermaid_id(target)}: {label}")


def _is_number(text: str) -> bool:
    """A delay written as milliseconds (`"1500"`, `"1.5"`), not a named delay."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _guard_label(guard: Any) -> str:
    config = guard_to_config(guard)
    if isinstance(config, Mapping):
        return str(config.get("type"))
    return str(config)
