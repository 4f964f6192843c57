"""Snapshots: value shapes, matching, tags, can, and the JSON round trip."""

import json

from statesync import Machine, assign, matches_state

NESTED = {
    "id": "m",
    "initial": "a",
    "context": {"n": 0},
    "states": {
        "a": {
            "initial": "x",
            "tags": ["outer"],
            "states": {"x": {"tags": "inner", "on": {"NEXT": "y"}}, "y": {"type": "final"}},
            "on": {"SKIP": "p"},
        },
        "p": {
            "type": "parallel",
            "states": {
                "r1": {"initial": "on", "states": {"on": {"on": {"FLIP": "off"}}, "off": {}}},
                "r2": {"initial": "z", "states": {"h": {"type": "history"}, "z": {}}},
                "r3": {},
            },
        },
    },
}


def test_value_shapes_and_matches():
    machine = Machine(NESTED)
    snapshot, _ = machine.initial_transition()
    assert snapshot.value == {"a": "x"}
    assert snapshot.matches("a") and snapshot.matches("a.x") and snapshot.matches({"a": "x"})
    assert not snapshot.matches("a.y") and not snapshot.matches("p")
    snapshot, _ = machine.transition(snapshot, {"type": "SKIP"})
    assert snapshot.value == {"p": {"r1": "on", "r2": "z", "r3": {}}}
    assert snapshot.matches({"p": {"r1": "on"}})
    assert snapshot.state_ids == ["m", "m.p", "m.p.r1", "m.p.r1.on", "m.p.r2", "m.p.r2.z", "m.p.r3"]


def test_matches_state_function():
    assert matches_state("a", "a")
    assert matches_state("a", {"a": "b"})
    assert not matches_state({"a": "b"}, "a")
    assert matches_state({"p": {"x": "y"}}, {"p": {"x": "y", "z": "w"}})


def test_tags_and_has_tag():
    machine = Machine(NESTED)
    snapshot, _ = machine.initial_transition()
    assert snapshot.tags == frozenset({"outer", "inner"})
    assert snapshot.has_tag("inner") and not snapshot.has_tag("nope")


def test_can():
    machine = Machine(
        {"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "b", "NOOP": {}, "LOG": {"actions": "log"}}}, "b": {}}}
    )
    snapshot, _ = machine.initial_transition()
    assert snapshot.can({"type": "GO"}) and machine.can(snapshot, {"type": "LOG"})
    assert not snapshot.can({"type": "NOOP"}) and not snapshot.can({"type": "OTHER"})


def test_next_events_lists_the_active_states_descriptors():
    machine = Machine({"id": "m", "initial": "a", "on": {"RESET": ".a", "log.*": {}},
                       "states": {"a": {"on": {"GO": "b"}, "after": {"1000": "b"}},
                                  "b": {"type": "final"}}})
    snapshot, _ = machine.initial_transition()
    assert snapshot.next_events == ["GO", "RESET", "log.*"]  # timers are the server's
    assert machine.next_events(machine.transition(snapshot, {"type": "GO"})[0]) == []  # done


def test_round_trip_through_json_is_exact():
    machine = Machine(
        {
            "id": "m",
            "initial": "p",
            "context": {"items": [], "meta": {"k": 1}},
            "states": {
                "p": {
                    "type": "parallel",
                    "on": {"OUT": "q"},
                    "states": {
                        "a": {"initial": "a1", "states": {"a1": {"on": {"GO": "a2"}}, "a2": {}, "hist": {"type": "history", "history": "deep"}}},
                        "b": {"initial": "b1", "states": {"b1": {"invoke": {"src": "svc", "id": "job"}}}},
                    },
                },
                "q": {"on": {"BACK": "#m.p.a.hist"}},
            },
        },
        actions={"add": assign(lambda c, e: {"items": [*c["items"], 1]})},
    )
    snapshot, _ = machine.initial_transition()
    snapshot, _ = machine.transition(snapshot, {"type": "GO"})
    snapshot, _ = machine.transition(snapshot, {"type": "OUT"})
    data = json.loads(json.dumps(snapshot.to_dict()))
    restored = machine.restore(data)
    assert restored == snapshot
    assert restored.to_dict() == snapshot.to_dict()
    assert data["historyValue"] == {"m.p.a.hist": ["m.p.a.a2"]}
    live, _ = machine.transition(snapshot, {"type": "BACK"})
    again, _ = machine.transition(restored, {"type": "BACK"})
    assert live.to_dict() == again.to_dict()
    assert again.value == {"p": {"a": "a2", "b": "b1"}}
    assert again.children == {"job": "svc"}


def test_restore_fills_in_partial_values():
    machine = Machine(NESTED)
    snapshot = machine.restore({"value": "p"})
    assert snapshot.value == {"p": {"r1": "on", "r2": "z", "r3": {}}}
    assert machine.restore({"value": {"a": "y"}}).status == "active"
    flat = Machine({"id": "f", "initial": "a", "states": {"a": {}, "z": {"type": "final"}}})
    assert flat.restore({"value": "z"}).status == "done"


def test_restore_rejects_unknown_states():
    import pytest

    with pytest.raises(ValueError):
        Machine(NESTED).restore({"value": {"a": "nope"}})
    with pytest.raises(ValueError):
        Machine(NESTED).restore({"context": {}})


def test_transition_does_not_mutate_the_old_snapshot():
    machine = Machine(
        {"id": "m", "initial": "a", "context": {"n": 0}, "states": {"a": {"on": {"INC": {"actions": "inc"}}}}},
        actions={"inc": assign({"n": lambda c, e: c["n"] + 1})},
    )
    first, _ = machine.initial_transition()
    second, _ = machine.transition(first, {"type": "INC"})
    assert first.context == {"n": 0} and second.context == {"n": 1}


def test_initial_context_is_copied_from_config():
    config = {"id": "m", "initial": "a", "context": {"list": []}, "states": {"a": {}}}
    snapshot, _ = Machine(config).initial_transition()
    snapshot.context["list"].append(1)
    assert config["context"] == {"list": []}


def test_start_at_and_stop_actions_for_upgrades():
    machine = Machine(
        {
            "id": "flow",
            "initial": "welcome",
            "states": {
                "welcome": {"entry": "sendWelcome", "on": {"SENT": "wait"}},
                "wait": {
                    "type": "parallel",
                    "states": {
                        "drip": {"initial": "timer", "states": {"timer": {"after": {"86400000": "#flow.done"}, "entry": "log"}}},
                        "lookup": {"initial": "run", "states": {"run": {"invoke": {"src": "lookupChannel", "id": "lookup", "input": {"x": 1}}}}},
                    },
                },
                "done": {"type": "final"},
            },
        }
    )
    snapshot, actions = machine.start_at({"wait": {"drip": "timer", "lookup": "run"}}, {"user": "ada"})
    assert snapshot.value == {"wait": {"drip": "timer", "lookup": "run"}} and snapshot.context == {"user": "ada"}
    assert [(a.type, a.params) for a in actions] == [
        ("xstate.raise", {"event": {"type": "xstate.after.86400000.flow.wait.drip.timer"}, "id": "xstate.after.86400000.flow.wait.drip.timer", "delay": 86400000}),
        ("xstate.spawnChild", {"id": "lookup", "src": "lookupChannel", "input": {"x": 1}}),
    ]
    assert snapshot.children == {"lookup": "lookupChannel"}
    assert [(a.type, a.params) for a in machine.stop_actions(snapshot)] == [
        ("xstate.stopChild", {"id": "lookup"}),
        ("xstate.cancel", {"id": "xstate.after.86400000.flow.wait.drip.timer"}),
    ]
    # entry effects never run again when resuming
    _, actions = machine.start_at("welcome", {})
    assert actions == []
