"""A machine definition as a drawable statechart graph (the inspector and `statesync diagram`).

The graph is plain JSON, independent of any layout:

    {"id": machine id, "root": root node id,
     "nodes": [{"id", "key", "path", "parent", "type", "history", "initial", "tags", "invoke",
                "internal": [transition labels without a target], "description"}],
     "edges": [{"id", "source", "target", "event", "guard", "delay", "kind", "label"}]}

`type` is atomic, compound, parallel, final or history; `initial` is the id of a compound
node's initial child. Each edge goes from one state to one target (a transition with several
targets gives one edge per target); `kind` is event, after, always, done or error.
"""

from __future__ import annotations

from typing import Any

from statesync import Machine
from statesync.guards import guard_to_config

AFTER, DONE_ACTOR, ERROR_ACTOR, DONE_STATE = (
    "xstate.after.", "xstate.done.actor.", "xstate.error.actor.", "xstate.done.state.")


def _guard(transition: Any) -> str | None:
    if transition.guard is None:
        return None
    config = guard_to_config(transition.config.get("guard"))
    if isinstance(config, dict):
        name = config.get("type")
        return str(name) if name is not None else "guard"
    return str(config)


def _delay(machine: Machine, name: str) -> int | str:
    """A delay in ms: a number, a named delay's fixed value, or its name if it is computed."""
    if name.isdigit():
        return int(name)
    value = machine.delays.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else name


def _describe(machine: Machine, node: Any, descriptor: str) -> tuple[str, str, Any]:
    """(kind, event shown, delay) of a transition keyed by `descriptor` on `node`."""
    invokes = {i["id"]: i["src"] for i in node.invoke}
    if descriptor.startswith(AFTER):
        delay = descriptor[len(AFTER):].removesuffix("." + node.id)
        return "after", f"after {delay}", _delay(machine, delay)
    if descriptor.startswith(DONE_ACTOR):
        actor = descriptor[len(DONE_ACTOR):]
        return "done", f"done: {invokes.get(actor, actor)}", None
    if descriptor.startswith(ERROR_ACTOR):
        actor = descriptor[len(ERROR_ACTOR):]
        return "error", f"error: {invokes.get(actor, actor)}", None
    if descriptor.startswith(DONE_STATE):
        return "done", "done", None
    return "event", descriptor, None


_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000))


def duration(ms: float) -> str:
    """`1500ms`, `5s`, `1d`: the largest unit that divides the delay exactly."""
    for unit, size in _UNITS:
        if ms >= size and ms % size == 0:
            return f"{int(ms // size)}{unit}"
    return f"{ms:g}ms"


def _label(event: str, guard: str | None, delay: Any) -> str:
    """`ADD [hasItem]`, `after 1s`, `after dripDelay (1d)`."""
    label = event
    if isinstance(delay, int | float):
        shown = duration(delay)
        literal = f"after {int(delay) if float(delay).is_integer() else delay}"
        label = f"after {shown}" if event == literal else f"{event} ({shown})"
    return f"{label} [{guard}]" if guard else label


def chart_graph(machine: Machine) -> dict[str, Any]:
    """The statechart graph of `machine` (see the module docstring)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for node in sorted(machine.id_map.values(), key=lambda n: n.order):
        internal: list[str] = []
        labelled = [(d, t) for d, ts in node.transitions.items() for t in ts]
        labelled += [("", t) for t in node.always]
        for descriptor, transition in labelled:
            kind, event, delay = _describe(machine, node, descriptor) if descriptor else (
                "always", "always", None)
            guard = _guard(transition)
            label = _label(event, guard, delay)
            if not transition.targets:
                internal.append(label)
                continue
            for target in transition.targets:
                edges.append({"id": f"e{len(edges)}", "source": node.id, "target": target.id,
                              "event": event, "guard": guard, "delay": delay, "kind": kind,
                              "label": label})
        initial = None
        if node.type == "compound" and node.initial is not None and node.initial.targets:
            initial = node.initial.targets[0].id
        nodes.append({
            "id": node.id, "key": node.key or machine.id, "path": ".".join(node.path),
            "parent": node.parent.id if node.parent is not None else None,
            "type": node.type, "history": node.history if node.type == "history" else None,
            "initial": initial, "tags": list(node.tags),
            "invoke": [str(i["src"]) for i in node.invoke], "internal": internal,
            "description": node.description if isinstance(node.description, str) else None,
        })
    return {"id": machine.id, "root": machine.root.id, "nodes": nodes, "edges": edges}
