"""Definition-time validation: helpful errors that name the state path."""

import pytest

from statesync import DefinitionError, Machine, and_, raise_


def error_of(config, **kwargs) -> str:
    with pytest.raises(DefinitionError) as info:
        Machine(config, **kwargs)
    return str(info.value)


def test_unknown_target_names_state_path():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"initial": "x", "states": {"x": {"on": {"GO": "nowhere"}}}}}})
    assert "m.a.x" in message and "nowhere" in message


def test_unknown_id_target():
    assert "#ghost" in error_of({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "#ghost"}}}})


def test_unknown_child_in_dotted_target():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "b.zz"}}, "b": {"initial": "c", "states": {"c": {}}}}})
    assert "zz" in message and "m.a" in message


def test_root_target_without_dot_is_refused():
    assert "did you mean '.a'" in error_of({"id": "m", "initial": "a", "on": {"GO": "a"}, "states": {"a": {}}})


def test_missing_initial_on_compound():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"states": {"x": {}, "y": {}}}}})
    assert "m.a" in message and "initial" in message


def test_initial_must_be_a_child():
    assert "'zz'" in error_of({"id": "m", "initial": "zz", "states": {"a": {}}})


def test_unknown_guard():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"target": "a", "guard": "isOk"}}}}})
    assert "isOk" in message and "m.a" in message


def test_unknown_guard_inside_combinator():
    assert "missing" in error_of(
        {"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"guard": and_(["ok", "missing"])}}}}},
        guards={"ok": lambda c, e: True},
    )


def test_unknown_named_delay_in_after():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"after": {"soon": "b"}}, "b": {}}})
    assert "soon" in message and "m.a" in message


def test_unknown_named_delay_in_raise():
    assert "later" in error_of(
        {"id": "m", "initial": "a", "states": {"a": {"entry": "r"}}},
        actions={"r": raise_({"type": "X"}, delay="later")},
    )


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"id": "m", "initial": "a", "states": ["a"]}, "'states' must be a dict"),
        ({"id": "m", "initial": "a", "states": {"a": "oops"}}, "must be a dict"),
        ({"id": "m", "initial": "a", "states": {"a": {"type": "weird"}}}, "'type' must be one of"),
        ({"id": "m", "initial": "a", "states": {"a": {"on": ["GO"]}}}, "'on' must be a dict"),
        ({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": 3}}}}, "transition must be"),
        ({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"taget": "a"}}}}}, "unknown key(s) ['taget']"),
        ({"id": "m", "initial": "a", "states": {"a": {"onEntry": []}}}, "unknown key(s) ['onEntry']"),
        ({"id": "m", "initial": "a", "states": {"a": {"on": {"": "a"}}}}, "use 'always'"),
        ({"id": "m", "initial": "a", "states": {"a": {"entry": [3]}}}, "an action must be"),
        ({"id": "m", "initial": "a", "states": {"a": {"invoke": {"id": "x"}}}}, "'src'"),
        ({"id": "m", "initial": "a", "states": {"a": {"id": "dup"}, "b": {"id": "dup"}}}, "duplicate state id"),
        ({"id": "m", "initial": "a", "states": {"a": {}, "": {}}}, "invalid state key"),
        ({"id": "m", "initial": "a", "states": {"a": {"type": "history", "history": "sideways"}}}, "'shallow' or 'deep'"),
        ({"id": "m", "initial": "a", "states": {"a": {"type": "final", "states": {"x": {}}}}}, "cannot have child states"),
    ],
)
def test_bad_config_shapes(config, fragment):
    message = error_of(config)
    assert fragment in message
    assert "state 'm" in message or "state id" in message


def test_config_must_be_a_dict():
    with pytest.raises(DefinitionError):
        Machine(["not", "a", "config"])  # type: ignore[arg-type]


def test_ids_and_document_order():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"initial": "x", "states": {"x": {}, "y": {"id": "why"}}}, "b": {}}})
    assert [(n.id, n.order) for n in sorted(machine.id_map.values(), key=lambda n: n.order)] == [
        ("m", 0), ("m.a", 1), ("m.a.x", 2), ("why", 3), ("m.b", 4)
    ]
    assert machine.find_by_id("#m.a.x") is machine.id_map["m.a.x"]
    assert machine.find_by_id("#why") is machine.id_map["why"]
    assert machine.find_by_id("#nothing") is None
