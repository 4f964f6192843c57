"""`Machine.take`: `transition` when `can` accepts the event, else None, with one selection
(guards asked once)."""

from __future__ import annotations

from statesync import Machine, Sender, assign

asked: list[str] = []


def _guard(name: str, result: bool):
    def guard(ctx, ev):
        asked.append(name)
        return result
    return guard


machine = Machine(
    {
        "id": "m",
        "initial": "a",
        "context": {"n": 0},
        "states": {
            "a": {
                "always": {"target": "b", "guard": "armed"},
                "on": {
                    "GO": {"target": "b", "guard": "yes"},
                    "NO": {"target": "b", "guard": "no"},
                    "ARM": {"actions": "arm"},
                    "NOTHING": {},
                    "SELF": {"target": "a"},
                },
            },
            "b": {"on": {"END": "c"}},
            "c": {"type": "final"},
        },
    },
    actions={"arm": assign({"n": lambda ctx, ev: ctx["n"] + 1})},
    guards={"yes": _guard("yes", True), "no": _guard("no", False),
            "armed": lambda ctx, ev: ctx["n"] > 1},
)


def _snapshots() -> list:
    start = machine.initial_transition()[0]
    armed_once, _ = machine.transition(start, {"type": "ARM"})
    in_b, _ = machine.transition(start, {"type": "GO"})
    done, _ = machine.transition(in_b, {"type": "END"})
    return [start, armed_once, in_b, done]


def test_take_answers_as_can_then_transition() -> None:
    events = ["GO", "NO", "ARM", "NOTHING", "SELF", "END", "UNKNOWN"]
    for snapshot in _snapshots():
        for kind in events:
            event = {"type": kind}
            taken = machine.take(snapshot, event, Sender())
            if snapshot.status != "active" or not machine.can(snapshot, event):
                assert taken is None, (snapshot.value, kind)
                continue
            assert taken is not None, (snapshot.value, kind)
            after, actions = machine.transition(snapshot, event)
            assert taken[0].to_dict() == after.to_dict()
            assert [a.type for a in taken[1]] == [a.type for a in actions]


def test_an_unaccepted_event_is_refused_though_eventless_transitions_would_run() -> None:
    armed_once = _snapshots()[1]  # `always` becomes enabled after one more ARM
    armed_twice, _ = machine.transition(armed_once, {"type": "ARM"})
    assert armed_twice.value == "b"
    # NOTHING selects a transition without target or actions: not accepted, no change
    assert machine.take(armed_once, {"type": "NOTHING"}) is None
    assert machine.transition(armed_once, {"type": "NOTHING"})[0] is armed_once


def test_take_asks_each_guard_once() -> None:
    start = machine.initial_transition()[0]
    asked.clear()
    assert machine.take(start, {"type": "GO"}) is not None
    assert asked == ["yes"]
    asked.clear()
    assert machine.take(start, {"type": "NO"}) is None
    assert asked == ["no"]
    asked.clear()
    machine.can(start, {"type": "GO"})
    machine.transition(start, {"type": "GO"})
    assert asked == ["yes", "yes"]  # the pair take replaces
