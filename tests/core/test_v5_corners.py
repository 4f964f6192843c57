"""XState v5 corners (issue 14): done events with `output: None`, `#id.child` targets, dotted
state keys, guard aliases, `can` on a done snapshot and the errors for XState v4 config keys.
The differential suite checks the same corners against XState itself (tests/differential/cases_v5.py)."""

import pytest

from statesync import DefinitionError, Machine, assign


def error_of(config, **kwargs) -> str:
    with pytest.raises(DefinitionError) as info:
        Machine(config, **kwargs)
    return str(info.value)


def keep_event(ctx, ev):
    return {"seen": ev}


# --- output: None --------------------------------------------------------------------------


def test_compound_done_event_keeps_output_none():
    machine = Machine(
        {"id": "m", "initial": "p", "context": {}, "states": {
            "p": {"initial": "a", "onDone": {"target": "q", "actions": "keep"},
                  "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final", "output": None}}},
            "q": {}}},
        actions={"keep": assign(keep_event)},
    )
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "F"})
    assert snapshot.context["seen"] == {"type": "xstate.done.state.m.p", "output": None}


def test_compound_done_event_without_output_has_no_output_key():
    machine = Machine(
        {"id": "m", "initial": "p", "context": {}, "states": {
            "p": {"initial": "a", "onDone": {"target": "q", "actions": "keep"},
                  "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final"}}},
            "q": {}}},
        actions={"keep": assign(keep_event)},
    )
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "F"})
    assert snapshot.context["seen"] == {"type": "xstate.done.state.m.p"}


def test_root_done_event_keeps_final_output_none():
    machine = Machine({"id": "m", "initial": "a", "output": lambda ctx, ev: ev, "states": {
        "a": {"on": {"END": "done"}}, "done": {"type": "final", "output": None}}})
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "END"})
    assert snapshot.status == "done"
    assert snapshot.output == {"type": "xstate.done.state.m.done", "output": None}


# --- #id.child targets -------------------------------------------------------------------


DOTTED_IDS = {"id": "m", "initial": "start", "states": {
    "start": {"on": {"GO": "#foo.bar", "ESC": "#foo\\.bar"}},
    "stateWithDot": {"id": "foo.bar"},
    "foo": {"id": "foo", "initial": "baz", "states": {"baz": {}, "bar": {}}},
}}


def test_hash_target_is_id_then_child_path():
    machine = Machine(DOTTED_IDS)
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "GO"})
    assert snapshot.value == {"foo": "bar"}


def test_hash_target_with_escaped_dot_is_one_id():
    machine = Machine(DOTTED_IDS)
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "ESC"})
    assert snapshot.value == "stateWithDot"


def test_dotted_machine_id_cannot_be_a_target_prefix():
    message = error_of({"id": "my.app", "initial": "a", "states": {"a": {"on": {"GO": "#my.app.b"}}, "b": {}}})
    assert "#my.app.b" in message and "'my'" in message


def test_find_by_id_follows_xstate():
    machine = Machine(DOTTED_IDS)
    assert machine.find_by_id("#foo.bar").id == "m.foo.bar"
    assert machine.find_by_id("#foo\\.bar").id == "foo.bar"
    assert machine.find_by_id("#foo.nope") is None


def test_state_in_an_id_with_a_dot_is_looked_up_when_evaluated():
    """`state_in("#b.on")` is state `b`, then child `on`; with only a state whose id is
    `b.on`, XState accepts the machine and fails the step that evaluates the guard."""
    machine = Machine({"id": "m", "initial": "a", "states": {
        "a": {"on": {"T": {"target": "c", "guard": {"type": "xstate.stateIn", "stateValue": "#b.on"}},
                     "U": {"target": "c", "guard": {"type": "xstate.stateIn", "stateValue": "#b\\.on"}}}},
        "c": {"id": "b.on"}}})
    snapshot, _ = machine.initial_transition()
    assert machine.transition(snapshot, {"type": "U"}) == (snapshot, [])  # `#b\.on` is not active
    with pytest.raises(DefinitionError, match="#b.on"):
        machine.transition(snapshot, {"type": "T"})


# --- dotted state keys ---------------------------------------------------------------------


def test_state_key_with_dot_targeted_with_escaped_dot():
    machine = Machine({"id": "m", "initial": "a", "states": {
        "a": {"on": {"GO": "foo\\.bar"}},
        "foo.bar": {"initial": "w", "on": {"IN": ".x\\.y"}, "states": {"w": {}, "x.y": {}}}}})
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "GO"})
    assert snapshot.value == {"foo.bar": "w"}
    snapshot, _ = machine.transition(snapshot, {"type": "IN"})
    assert snapshot.value == {"foo.bar": "x.y"}
    assert snapshot.matches({"foo.bar": "x.y"}) and snapshot.matches("foo\\.bar.x\\.y")
    assert machine.restore(snapshot.to_dict()) == snapshot


def test_empty_state_key_is_refused():
    assert "invalid state key" in error_of({"id": "m", "initial": "a", "states": {"a": {}, "": {}}})


# --- guard implementations: aliases and parameterized guard objects ------------------------


def run_guarded(guards, guard_ref, count):
    machine = Machine(
        {"id": "m", "initial": "a", "context": {"count": count},
         "states": {"a": {"on": {"E": {"guard": guard_ref, "target": "b"}}}, "b": {}}},
        guards=guards,
    )
    return machine.transition(machine.initial_transition()[0], {"type": "E"})[0].value


def gt(ctx, ev, params):
    return ctx["count"] > params["n"]


def test_guard_alias_resolves_to_named_guard():
    guards = {"ref1": "ref2", "ref2": lambda ctx, ev: ctx["count"] == 1}
    assert run_guarded(guards, "ref1", 1) == "b"
    assert run_guarded(guards, "ref1", 0) == "a"


def test_guard_implementation_as_parameterized_object():
    guards = {"big": {"type": "gt", "params": {"n": 2}}, "gt": gt}
    assert run_guarded(guards, "big", 3) == "b"
    assert run_guarded(guards, "big", 2) == "a"
    # as in XState, the referenced object's own params are used, not the reference's
    assert run_guarded(guards, {"type": "big", "params": {"n": 0}}, 2) == "a"


def test_guard_alias_cycle_is_a_definition_error():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"guard": "x", "target": "a"}}}}},
                       guards={"x": "y", "y": "x"})
    assert "cycle" in message


def test_guard_alias_to_unknown_guard():
    message = error_of({"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"guard": "x", "target": "a"}}}}},
                       guards={"x": "nope"})
    assert "'nope'" in message


# --- can() on a done snapshot ----------------------------------------------------------------


def test_can_on_a_done_snapshot_answers_as_xstate():
    """XState's `snapshot.can` answers by the transition it would select, whatever the
    status: True here (the final state has a transition for E), though a done snapshot
    takes no event."""
    machine = Machine({"id": "m", "initial": "a", "states": {
        "a": {"on": {"END": "done"}}, "done": {"type": "final", "on": {"E": {"actions": "fx"}}}}})
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "END"})
    assert snapshot.status == "done"
    assert snapshot.can({"type": "E"}) is True
    assert snapshot.can({"type": "END"}) is False
    assert machine.transition(snapshot, {"type": "E"}) == (snapshot, [])
    assert machine.handles(snapshot, "E") is False and machine.next_events(snapshot) == []


# --- XState v4 keys --------------------------------------------------------------------------


@pytest.mark.parametrize(("config", "words"), [
    ({"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"target": "a", "cond": "g"}}}}},
     ["'cond'", "XState v4", "'guard'"]),
    ({"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"target": "a", "internal": False}}}}},
     ["'internal'", "XState v4", "'reenter'"]),
    ({"id": "m", "initial": "a", "states": {"a": {"type": "final", "data": {"x": 1}}}},
     ["'data'", "XState v4", "'output'"]),
    ({"id": "m", "initial": "a", "predictableActionArguments": True, "states": {"a": {}}},
     ["'predictableActionArguments'", "XState v4", "remove"]),
    ({"id": "m", "initial": "a", "states": {"a": {"invoke": {"src": "s", "data": {"x": 1}}}}},
     ["'data'", "XState v4", "'input'"]),
    ({"id": "m", "initial": "a", "states": {"a": {"activities": ["beep"]}}},
     ["'activities'", "XState v4", "'invoke'"]),
])
def test_xstate_v4_keys_name_the_v5_replacement(config, words):
    message = error_of(config)
    for word in words:
        assert word in message, message
