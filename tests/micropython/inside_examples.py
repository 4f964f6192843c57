"""Import an example's machine module and step each of its machines; the same code runs in
CPython and, rewritten, in MicroPython (tests/micropython/test_examples_in_micropython.py
compares the two reports).

Each `Machine` of the module starts (with the input the test gives for its id, if any), then
takes every event type its states name, from the initial snapshot and from each snapshot that
reached, with one payload holding the fields the examples' events read. Exceptions are
reported by class name.
"""

import json

from statesync import Machine

PAYLOAD = {"id": 1, "text": "milk", "title": "Groceries", "member": "bob", "key": "theme",
           "value": "dark", "qty": 2, "sku": "A-1", "reason": "test", "run": 1, "ok": True,
           "output": {"message_id": "msg-1"}}


def _event_types(node, found):
    for event_type in (node.get("on") or {}):
        if "*" not in event_type:
            found.add(event_type)
    for child in (node.get("states") or {}).values():
        _event_types(child, found)
    return found


def _observe(snapshot, actions):
    return {"value": snapshot.value, "context": snapshot.context, "status": snapshot.status,
            "tags": sorted(snapshot.tags), "actions": [a.type for a in actions]}


def _explore(machine, machine_input):
    try:
        snapshot, actions = machine.initial_transition(machine_input)
    except Exception as exc:  # noqa: BLE001 - compared by name
        return {"start": type(exc).__name__}
    report = {"start": _observe(snapshot, actions), "steps": {}}
    events = sorted(_event_types(machine.config, set()))
    frontier = [("", snapshot)]
    for depth in range(2):
        reached = []
        for path, current in frontier:
            for event_type in events:
                label = path + "/" + event_type
                event = dict(PAYLOAD, type=event_type)
                try:
                    after, actions = machine.transition(current, event)
                except Exception as exc:  # noqa: BLE001
                    report["steps"][label] = type(exc).__name__
                    continue
                report["steps"][label] = _observe(after, actions)
                if after is not current:
                    reached.append((label, after))
        frontier = reached[:8]
    return report


def run(args_json):
    """`{"module": name, "inputs": {machine id: input}}` -> JSON `{attribute: report}`."""
    args = json.loads(args_json)
    module = __import__(args["module"])
    reports = {}
    for name in sorted(dir(module)):
        machine = getattr(module, name)
        if isinstance(machine, Machine):
            reports[name] = _explore(machine, args["inputs"].get(machine.id))
    return json.dumps({"machines": reports})
