"""enqueue_actions, emit, log, Machine.setup / provide and get_meta (issue 14). The differential
suite runs the same features against XState (tests/differential/ported.py)."""

import json

import pytest

import statesync
from statesync import DefinitionError, Machine, and_, assign, emit, enqueue_actions, log, raise_, state_in


def first(machine, *events):
    snapshot, actions = machine.initial_transition()
    for event in events:
        snapshot, actions = machine.transition(snapshot, {"type": event} if isinstance(event, str) else event)
    return snapshot, actions


def kinds(actions):
    return [a.type for a in actions]


# --- emit -------------------------------------------------------------------------------------


def test_emit_is_returned_for_the_runtime_and_changes_nothing():
    machine = Machine({"id": "m", "initial": "a", "context": {"n": 2}, "states": {"a": {"on": {
        "PAY": {"actions": [emit({"type": "paymentFailed", "reason": "card"}),
                            emit(lambda ctx, ev: {"type": "count", "n": ctx["n"], "by": ev["by"]})]}}}}})
    start, _ = machine.initial_transition()
    snapshot, actions = machine.transition(start, {"type": "PAY", "by": "x"})
    assert snapshot is start  # no state change: the same snapshot comes back
    assert [a.to_dict()["params"] for a in actions] == [
        {"event": {"type": "paymentFailed", "reason": "card"}},
        {"event": {"type": "count", "n": 2, "by": "x"}},
    ]
    assert kinds(actions) == [statesync.notify.EMIT] * 2
    assert machine.can(start, {"type": "PAY", "by": "x"})


def test_emit_with_params():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {
        "entry": {"type": "notify", "params": {"level": 3}}}}},
        actions={"notify": emit(lambda ctx, ev, params: {"type": "note", **params})})
    _, actions = machine.initial_transition()
    assert actions[0].params == {"event": {"type": "note", "level": 3}}


@pytest.mark.parametrize("bad", ["paymentFailed", {"reason": "no type"}, {"type": 3}])
def test_emit_needs_an_event_dict(bad):
    with pytest.raises(TypeError, match="emit"):
        emit(bad)


def test_emit_function_must_return_an_event():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"actions": emit(lambda c, e: "x")}}}}})
    with pytest.raises(TypeError, match="emit"):
        first(machine, "E")


# --- log --------------------------------------------------------------------------------------


def test_log_value_label_and_default():
    machine = Machine({"id": "m", "initial": "a", "context": {"n": 1}, "states": {"a": {"on": {"E": {"actions": [
        log("plain"), log(lambda ctx, ev: ctx["n"] + 1, "next"), log()]}}}}})
    _, actions = first(machine, "E")
    assert kinds(actions) == [statesync.notify.LOG] * 3
    assert [a.params for a in actions] == [
        {"label": None, "value": "plain"},
        {"label": "next", "value": 2},
        {"label": None, "value": {"context": {"n": 1}, "event": {"type": "E"}}},
    ]


# --- enqueue_actions ---------------------------------------------------------------------------


def test_enqueue_actions_conditional_and_computed():
    def collect(ctx, ev, enqueue, check):
        enqueue.assign({"count": ctx["count"] + 1})
        if check("isAdmin"):
            enqueue("notifyAdmin")
        for item in ev.get("items", []):
            enqueue({"type": "ship", "params": {"item": item}})
        enqueue.emit({"type": "changed"})
        enqueue.raise_({"type": "AFTER"})

    machine = Machine(
        {"id": "m", "initial": "a", "context": {"count": 0}, "states": {"a": {"on": {
            "E": {"actions": enqueue_actions(collect)}, "AFTER": {"actions": "after"}}}}},
        guards={"isAdmin": lambda ctx, ev: ev.get("admin", False)},
    )
    snapshot, actions = first(machine, {"type": "E", "admin": True, "items": ["x", "y"]})
    assert snapshot.context == {"count": 1}
    assert [(a.type, a.params) for a in actions] == [
        ("notifyAdmin", {}), ("ship", {"item": "x"}), ("ship", {"item": "y"}),
        ("xstate.emit", {"event": {"type": "changed"}}), ("after", {}),
    ]
    _, actions = machine.transition(snapshot, {"type": "E"})
    assert kinds(actions) == ["xstate.emit", "after"]


def test_check_sees_the_context_from_before_the_queued_actions():
    seen = []

    def collect(ctx, ev, enqueue, check):
        enqueue.assign({"count": 10})
        seen.append(check(lambda c, e: c["count"] > 5))
        enqueue(lambda c, e: seen.append(c["count"]))

    machine = Machine({"id": "m", "initial": "a", "context": {"count": 0}, "states": {"a": {"entry": enqueue_actions(collect)}}})
    snapshot, _ = machine.initial_transition()
    assert seen == [False, 10] and snapshot.context == {"count": 10}


def test_check_accepts_every_guard_form():
    results = {}

    def collect(ctx, ev, enqueue, check):
        results["name"] = check("big")
        results["object"] = check({"type": "gt", "params": {"n": 5}})
        results["helper"] = check(and_(["big", state_in("#m.a")]))
        results["alias"] = check("alias")

    machine = Machine({"id": "m", "initial": "a", "context": {"count": 3}, "states": {
        "a": {"on": {"E": {"target": "b", "actions": enqueue_actions(collect)}}}, "b": {}}},
        guards={"big": lambda c, e: c["count"] > 2, "gt": lambda c, e, p: c["count"] > p["n"], "alias": "big"})
    first(machine, "E")
    assert results == {"name": True, "object": False, "helper": True, "alias": True}


def test_check_sees_the_states_from_before_the_microstep():
    """As XState's snapshot inside actions: `a` is still active while a -> b runs, `b` is not
    yet active in its own entry actions, and before the initial microstep only the root is
    (though its value, as in XState, is the initial one)."""
    seen = []

    def look(label):
        return enqueue_actions(lambda c, e, enqueue, check: seen.append(
            (label, check(state_in("#m.a")), check(state_in("#m.b")), check(state_in("a")))))

    machine = Machine({"id": "m", "initial": "a", "states": {
        "a": {"entry": look("init"), "on": {"GO": {"target": "b", "actions": look("transition")}}},
        "b": {"entry": look("entry b")}}})
    first(machine, "GO")
    assert seen == [("init", False, False, True), ("transition", True, False, True), ("entry b", True, False, True)]


def test_check_of_an_unknown_guard_fails_the_transition():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"on": {
        "E": {"actions": enqueue_actions(lambda c, e, enqueue, check: check("nope"))}}}}})
    start, _ = machine.initial_transition()
    with pytest.raises(DefinitionError, match="'nope'"):
        machine.transition(start, {"type": "E"})


def test_named_enqueue_actions_with_params_and_delayed_raise():
    def schedule(ctx, ev, enqueue, check, params):
        enqueue.raise_({"type": "PING"}, id="ping", delay=params["ms"])
        enqueue.cancel("old")

    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"entry": {"type": "schedule", "params": {"ms": 250}}}}},
                      actions={"schedule": enqueue_actions(schedule)})
    _, actions = machine.initial_transition()
    assert [(a.type, a.params) for a in actions] == [
        ("xstate.raise", {"event": {"type": "PING"}, "id": "ping", "delay": 250}), ("xstate.cancel", {"id": "old"})]


def test_enqueued_named_delay_must_exist():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {
        "entry": enqueue_actions(lambda c, e, enqueue, check: enqueue.raise_({"type": "X"}, delay="soon"))}}})
    with pytest.raises(DefinitionError, match="'soon'"):
        machine.initial_transition()


def test_enqueue_actions_needs_a_function():
    with pytest.raises(TypeError, match="enqueue_actions"):
        enqueue_actions("notAFunction")


# --- setup / provide ---------------------------------------------------------------------------


CONFIG = {"id": "m", "initial": "a", "context": {"count": 0}, "states": {
    "a": {"entry": "greet", "on": {"E": {"guard": "ok", "target": "b", "actions": "inc"}}},
    "b": {"after": {"wait": "a"}}}}


def test_setup_then_create_machine():
    inc = assign(lambda ctx, ev: {"count": ctx["count"] + 1})
    machine = Machine.setup(actions={"inc": inc}, guards={"ok": lambda c, e: True}, delays={"wait": 30},
                            actors={"svc": object()}).create_machine(CONFIG)
    snapshot, actions = first(machine, "E")
    assert snapshot.value == "b" and snapshot.context == {"count": 1}
    assert actions[0].params["delay"] == 30
    assert "svc" in machine.actors


def test_provide_makes_a_new_machine_and_leaves_the_original():
    base = Machine(CONFIG, actions={"inc": assign({"count": 1})}, guards={"ok": lambda c, e: False}, delays={"wait": 30})
    other = base.provide(guards={"ok": lambda c, e: True}, delays={"wait": 5}, actions={"greet": log("hi")})
    assert first(base, "E")[0].value == "a"
    snapshot, actions = first(other, "E")
    assert snapshot.value == "b" and snapshot.context == {"count": 1} and actions[0].params["delay"] == 5
    assert kinds(other.initial_transition()[1]) == ["xstate.log"]
    assert kinds(base.initial_transition()[1]) == ["greet"]  # still an effect in the original


def test_setup_validates_like_the_constructor():
    with pytest.raises(DefinitionError, match="'ok'"):
        Machine.setup().create_machine(CONFIG)


# --- get_meta ------------------------------------------------------------------------------------


def test_get_meta_of_active_states():
    machine = Machine({"id": "light", "initial": "red", "meta": {"root": True}, "states": {
        "green": {"meta": ["g"]},
        "red": {"meta": {"stop": True}, "initial": "walk", "on": {"T": "green"},
                "states": {"walk": {"meta": {"walk": 1}}, "wait": {"meta": None}, "none": {}}}}})
    snapshot, _ = machine.initial_transition()
    assert snapshot.get_meta() == {"light": {"root": True}, "light.red": {"stop": True}, "light.red.walk": {"walk": 1}}
    snapshot = machine.restore({"value": {"red": "wait"}})
    assert snapshot.get_meta() == {"light": {"root": True}, "light.red": {"stop": True}, "light.red.wait": None}
    assert first(machine, "T")[0].get_meta() == {"light": {"root": True}, "light.green": ["g"]}


# --- export ---------------------------------------------------------------------------------------


def test_to_config_names_the_new_builtin_actions():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"entry": [
        emit({"type": "x"}), log(label="l"), enqueue_actions(lambda c, e, q, check: None), raise_({"type": "Y"})]}}})
    entry = machine.to_config()["states"]["a"]["entry"]
    json.dumps(entry)
    assert entry[:3] == [{"type": "xstate.emit", "event": {"type": "x"}}, {"type": "xstate.log", "label": "l"},
                         {"type": "xstate.enqueueActions"}]


# --- sender -----------------------------------------------------------------------------------------


def test_enqueue_emit_and_log_see_the_sender_and_mark_the_machine():
    from statesync import Sender

    def collect(ctx, ev, enqueue, check, *, sender):
        enqueue.emit({"type": "by", "who": sender.subject})
        if check("mine"):
            enqueue("owned")

    machine = Machine({"id": "m", "initial": "a", "context": {"owner": "ann"}, "states": {"a": {"on": {"E": {"actions": [
        enqueue_actions(collect), log(lambda ctx, ev, *, sender: sender.origin)]}}}}},
        guards={"mine": lambda ctx, ev, *, sender: sender.subject == ctx["owner"]})
    assert machine.reads_sender
    start, _ = machine.initial_transition()
    _, actions = machine.transition(start, {"type": "E"}, sender=Sender.client({"sub": "ann"}))
    assert [(a.type, a.params) for a in actions] == [
        ("xstate.emit", {"event": {"type": "by", "who": "ann"}}), ("owned", {}),
        ("xstate.log", {"label": None, "value": "client"})]


def test_a_sender_reading_implementation_reachable_from_enqueue_marks_the_machine():
    config = {"id": "m", "initial": "a", "states": {"a": {"on": {"E": {"actions": enqueue_actions(
        lambda ctx, ev, enqueue, check: enqueue("stamp"))}}}}}
    stamp = assign({"by": lambda ctx, ev, *, sender: sender.subject})
    assert Machine(config, actions={"stamp": stamp}).reads_sender
    assert not Machine(config, actions={"stamp": assign({"by": 1})}).reads_sender
