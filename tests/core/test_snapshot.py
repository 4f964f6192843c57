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
