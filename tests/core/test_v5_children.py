"""Child actor actions in the pure core: what `send_parent`, `send_to(child_id, ...)`,
`forward_to`, `spawn_child` and `stop_child` return for the runtime (XState's sendParent,
sendTo, forwardTo, spawnChild, stopChild; their behaviour with real children is compared with
XState in tests/differential/ported_actors.py)."""

from __future__ import annotations

import pytest
from statesync import (
    PARENT,
    SELF,
    Machine,
    UnknownActorError,
    cancel,
    enqueue_actions,
    forward_to,
    send_parent,
    send_to,
    spawn_child,
    stop_child,
    system,
)

child = Machine({"id": "child", "initial": "a", "states": {"a": {}}})


def parent(**states):
    return Machine.setup(actors={"kid": child}).create_machine(
        {"id": "p", "initial": "w", "context": {"n": 2}, "states": {"w": {}, **states}})


def kinds(actions):
    return [(a.type, a.params) for a in actions]


def test_send_to_a_child_by_id_and_forward_to():
    machine = parent(w={
        "invoke": {"src": "kid", "id": "k"},
        "on": {"GO": {"actions": send_to("k", lambda ctx, ev: {"type": "PING", "n": ctx["n"]})},
               "FWD": {"actions": forward_to("k")}},
    })
    snapshot, actions = machine.initial_transition()
    assert kinds(actions) == [("xstate.spawnChild", {"id": "k", "src": "kid", "input": None})]
    _, actions = machine.transition(snapshot, {"type": "GO"})
    assert kinds(actions) == [("xstate.sendTo", {"id": "k", "event": {"type": "PING", "n": 2}})]
    _, actions = machine.transition(snapshot, {"type": "FWD", "x": 1})
    assert kinds(actions) == [("xstate.sendTo", {"id": "k", "event": {"type": "FWD", "x": 1}})]


def test_send_to_an_id_that_is_no_child_raises_as_xstate_throws():
    machine = parent(w={"on": {"GO": {"actions": send_to("nobody", {"type": "X"})}}})
    snapshot, _ = machine.initial_transition()
    with pytest.raises(UnknownActorError, match="Unable to send event to actor 'nobody' from machine 'p'"):
        machine.transition(snapshot, {"type": "GO"})


def test_entry_actions_may_send_to_the_child_their_state_invokes():
    machine = parent(w={"invoke": {"src": "kid", "id": "k"}, "entry": send_to("k", {"type": "HI"})})
    _, actions = machine.initial_transition()
    assert [a.type for a in actions] == ["xstate.sendTo", "xstate.spawnChild"]


def test_send_parent_spawn_child_and_stop_child():
    machine = parent(w={"on": {
        "UP": {"actions": send_parent({"type": "DONE_SOON"})},
        "SPAWN": {"actions": spawn_child("kid", id="c1", input={"a": 1})},
        "STOP": {"actions": stop_child("c1")},
    }})
    snapshot, _ = machine.initial_transition()
    _, actions = machine.transition(snapshot, {"type": "UP"})
    assert kinds(actions) == [("xstate.sendParent", {"event": {"type": "DONE_SOON"}})]
    spawned, actions = machine.transition(snapshot, {"type": "SPAWN"})
    assert kinds(actions) == [("xstate.spawnChild", {"id": "c1", "src": "kid", "input": {"a": 1}})]
    assert spawned.children == {"c1": "kid"}
    stopped, actions = machine.transition(spawned, {"type": "STOP"})
    assert kinds(actions) == [("xstate.stopChild", {"id": "c1"})] and stopped.children == {}
    _, actions = machine.transition(stopped, {"type": "STOP"})  # no such child: nothing
    assert actions == []


def test_a_done_child_stays_until_stopped_and_enqueue_helpers():
    machine = parent(w={
        "invoke": {"src": "kid", "id": "k"},
        "on": {"xstate.done.actor.k": {"actions": enqueue_actions(
                   lambda ctx, ev, enqueue, check: (enqueue.send_to("k", {"type": "LATE"}),
                                                    enqueue.send_parent({"type": "UP"})))},
               "LEAVE": "x"},
    }, x={})
    snapshot, _ = machine.initial_transition()
    finished, actions = machine.transition(snapshot, {"type": "xstate.done.actor.k", "output": 1})
    assert finished.children == {"k": "kid"}
    assert [a.type for a in actions] == ["xstate.sendTo", "xstate.sendParent"]
    _, actions = machine.transition(finished, {"type": "LEAVE"})
    assert kinds(actions) == [("xstate.stopChild", {"id": "k"})]


def test_restore_without_children_takes_the_active_invokes_as_running():
    machine = parent(w={"invoke": {"src": "kid", "id": "k"}})
    assert machine.restore({"value": "w", "context": {"n": 2}}).children == {"k": "kid"}
    assert machine.restore({"value": "w", "context": {}, "children": {}}).children == {}


def test_bad_arguments_are_refused_at_definition():
    with pytest.raises(TypeError):
        send_parent("UP")
    with pytest.raises(TypeError):
        send_to("k", "PING")
    with pytest.raises(TypeError):
        spawn_child("kid", id="")


def test_on_snapshot_is_a_transition_on_the_childs_snapshot_event():
    """XState v5's `invoke.onSnapshot` (packages/core/test/invoke.test.ts, "onSnapshot"): the
    invoking state takes `xstate.snapshot.<id>` events, which carry the child's `snapshot`;
    the runtime (the server, for child instances) sends them."""
    from statesync import Machine, assign

    machine = Machine(
        {"id": "p", "initial": "a", "context": {"seen": []},
         "states": {"a": {"invoke": {"src": "child", "id": "c",
                                     "onSnapshot": {"actions": "see"}}},
                    "b": {}}},
        actions={"see": assign(lambda ctx, ev: {"seen": [*ctx["seen"], ev["snapshot"]["value"]]})},
    )
    snapshot, _ = machine.initial_transition()
    snapshot, _ = machine.transition(snapshot, {"type": "xstate.snapshot.c", "snapshot": {"value": "x"}})
    assert snapshot.context == {"seen": ["x"]}
    assert machine.can(snapshot, {"type": "xstate.snapshot.c", "snapshot": {"value": "y"}})
    assert not machine.can(snapshot, {"type": "xstate.snapshot.other", "snapshot": {}})


# --- issue 22 ------------------------------------------------------------------------------


def test_spawn_child_with_an_id_computed_from_context_and_event():
    machine = parent(w={"on": {"ADD": {"actions": [
        spawn_child("kid", id=lambda ctx, ev: f"{ev['name']}-{ctx['n']}", input=lambda ctx, ev: ev["name"]),
        send_to(lambda ctx, ev: f"{ev['name']}-{ctx['n']}", {"type": "HI"})]},
        "DROP": {"actions": stop_child(lambda ctx, ev: f"{ev['name']}-{ctx['n']}")}}})
    snapshot, _ = machine.initial_transition()
    snapshot, actions = machine.transition(snapshot, {"type": "ADD", "name": "a"})
    assert kinds(actions) == [("xstate.spawnChild", {"id": "a-2", "src": "kid", "input": "a"}),
                              ("xstate.sendTo", {"id": "a-2", "event": {"type": "HI"}})]
    assert snapshot.children == {"a-2": "kid"}
    snapshot, actions = machine.transition(snapshot, {"type": "DROP", "name": "a"})
    assert kinds(actions) == [("xstate.stopChild", {"id": "a-2"})] and snapshot.children == {}


def test_delayed_send_to_self_and_parent_and_the_system():
    machine = parent(w={"on": {"GO": {"actions": [
        send_to("k", {"type": "LATER"}, delay=100, id="t1"),
        send_to(SELF, {"type": "ME"}),
        send_to("#_internal", {"type": "ME2"}, delay="slow"),
        send_to(lambda ctx, ev: PARENT, {"type": "UP"}, delay=lambda ctx, ev: ctx["n"]),
        send_parent({"type": "UP2"}),
        send_to(system.get("billing"), {"type": "BILL"}),
    ]}, "X": {"actions": cancel("t1")}}, "invoke": {"src": "kid", "id": "k", "systemId": "kid1"}})
    machine = machine.provide(delays={"slow": 500})
    snapshot, actions = machine.initial_transition()
    assert kinds(actions) == [("xstate.spawnChild", {"id": "k", "src": "kid", "input": None, "systemId": "kid1"})]
    _, actions = machine.transition(snapshot, {"type": "GO"})
    assert kinds(actions) == [
        ("xstate.sendTo", {"id": "k", "event": {"type": "LATER"}, "delay": 100, "sendId": "t1"}),
        ("xstate.sendTo", {"to": "self", "id": None, "event": {"type": "ME"}}),
        ("xstate.sendTo", {"to": "self", "id": None, "event": {"type": "ME2"}, "delay": 500, "sendId": None}),
        ("xstate.sendParent", {"event": {"type": "UP"}, "delay": 2, "sendId": None}),
        ("xstate.sendParent", {"event": {"type": "UP2"}}),
        ("xstate.sendTo", {"to": "system", "id": "billing", "event": {"type": "BILL"}}),
    ]
    with pytest.raises(TypeError):
        send_to("orders", "o1", {"type": "PAID"}, delay=10)


def test_self_in_enqueue_actions_and_sync_snapshot():
    def program(ctx, ev, enqueue, check, *, self):
        enqueue.send_to(self, {"type": "AGAIN"})
        enqueue.spawn_child("kid", id="s", sync_snapshot=True)

    machine = parent(w={"on": {"GO": {"actions": enqueue_actions(program)}}})
    snapshot, _ = machine.initial_transition()
    _, actions = machine.transition(snapshot, {"type": "GO"})
    assert kinds(actions) == [
        ("xstate.sendTo", {"to": "self", "id": None, "event": {"type": "AGAIN"}}),
        ("xstate.spawnChild", {"id": "s", "src": "kid", "input": None, "syncSnapshot": True}),
    ]
