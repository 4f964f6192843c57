"""Hand-written semantics checks (XState v5 behaviour; the differential suite compares with XState itself)."""

import pytest

from statesync import InfiniteLoopError, Machine, and_, assign, cancel, not_, or_, raise_, state_in


def effects(actions):
    return [a.type for a in actions if not a.type.startswith("xstate.")]


def run(machine, *events):
    snapshot, actions = machine.initial_transition()
    log = [effects(actions)]
    for event in events:
        snapshot, actions = machine.transition(snapshot, {"type": event} if isinstance(event, str) else event)
        log.append(effects(actions))
    return snapshot, log


def test_exit_transition_entry_order_in_nested_states():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "states": {
                "a": {
                    "initial": "a1",
                    "entry": "enter_a",
                    "exit": "exit_a",
                    "states": {"a1": {"entry": "enter_a1", "exit": "exit_a1"}},
                    "on": {"GO": {"target": "b", "actions": ["t1", "t2"]}},
                },
                "b": {"initial": "b1", "entry": "enter_b", "states": {"b1": {"entry": "enter_b1"}}},
            },
        }
    )
    _, log = run(machine, "GO")
    assert log == [["enter_a", "enter_a1"], ["exit_a1", "exit_a", "t1", "t2", "enter_b", "enter_b1"]]


def test_self_transition_without_reenter_keeps_source_and_reenter_exits_it():
    config = {
        "id": "m",
        "initial": "a",
        "states": {
            "a": {
                "initial": "x",
                "entry": "in_a",
                "exit": "out_a",
                "states": {"x": {"entry": "in_x", "exit": "out_x", "on": {"NEXT": "y"}}, "y": {"entry": "in_y", "exit": "out_y"}},
                "on": {"CHILD": ".x", "SELF": {"target": "a"}, "RE": {"target": "a", "reenter": True}},
            }
        },
    }
    machine = Machine(config)
    _, log = run(machine, "NEXT", "CHILD", "SELF", "RE")
    assert log[1:] == [
        ["out_x", "in_y"],
        ["out_y", "in_x"],
        ["out_x", "in_x"],  # targeting itself without reenter: the source stays, its children restart
        ["out_x", "out_a", "in_a", "in_x"],
    ]


def test_targetless_transition_runs_actions_only():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"exit": "out", "on": {"PING": {"actions": "pong"}}}}})
    snapshot, log = run(machine, "PING")
    assert log[1] == ["pong"] and snapshot.value == "a"


def test_unhandled_event_returns_same_snapshot():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}})
    snapshot, _ = machine.initial_transition()
    same, actions = machine.transition(snapshot, {"type": "UNKNOWN"})
    assert same is snapshot and actions == []


def test_guards_choose_first_passing_transition_in_order():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "context": {"n": 3},
            "states": {
                "a": {
                    "on": {
                        "GO": [
                            {"target": "small", "guard": {"type": "lt", "params": {"max": 2}}},
                            {"target": "mid", "guard": and_([not_({"type": "lt", "params": {"max": 3}}), "odd"])},
                            {"target": "other"},
                        ]
                    }
                },
                "small": {},
                "mid": {},
                "other": {},
            },
        },
        guards={"lt": lambda c, e, p: c["n"] < p["max"], "odd": lambda c, e: c["n"] % 2 == 1},
    )
    snapshot, _ = run(machine, "GO")
    assert snapshot.value == "mid"


def test_or_and_state_in_guards():
    machine = Machine(
        {
            "id": "m",
            "type": "parallel",
            "states": {
                "mode": {"initial": "edit", "states": {"edit": {"on": {"LOCK": "locked"}}, "locked": {"id": "locked"}}},
                "doc": {
                    "initial": "draft",
                    "states": {
                        "draft": {"on": {"PUBLISH": {"target": "live", "guard": or_([state_in("#locked"), "forced"])}}},
                        "live": {},
                    },
                },
            },
        },
        guards={"forced": lambda c, e: bool(e.get("force"))},
    )
    snapshot, _ = run(machine, "PUBLISH")
    assert snapshot.value["doc"] == "draft"
    snapshot, _ = run(machine, {"type": "PUBLISH", "force": True})
    assert snapshot.value["doc"] == "live"
    snapshot, _ = run(machine, "LOCK", "PUBLISH")
    assert snapshot.value == {"mode": "locked", "doc": "live"}


def test_state_in_with_path_value():
    machine = Machine(
        {
            "id": "m",
            "type": "parallel",
            "states": {
                "a": {"initial": "x", "states": {"x": {"on": {"A": "y"}}, "y": {}}},
                "b": {"initial": "u", "states": {"u": {"on": {"B": {"target": "v", "guard": state_in({"a": "y"})}}}, "v": {}}},
            },
        }
    )
    assert run(machine, "B")[0].value == {"a": "x", "b": "u"}
    assert run(machine, "A", "B")[0].value == {"a": "y", "b": "v"}


def test_assign_is_visible_to_later_actions_in_same_step():
    seen = []
    machine = Machine(
        {"id": "m", "initial": "a", "context": {"n": 1}, "states": {"a": {"on": {"GO": {"actions": ["double", "peek", "inc", "peek"]}}}}},
        actions={
            "double": assign(lambda c, e: {"n": c["n"] * 2}),
            "inc": assign({"n": lambda c, e: c["n"] + e["by"]}),
            "peek": lambda c, e: seen.append(c["n"]),
        },
    )
    snapshot, _ = run(machine, {"type": "GO", "by": 5})
    assert seen == [2, 7] and snapshot.context == {"n": 7}


def test_action_params_reach_effects_and_implementations():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "context": {"n": 0},
            "states": {"a": {"on": {"GO": {"actions": [{"type": "add", "params": {"k": 3}}, {"type": "mail", "params": {"to": "x@y"}}]}}}},
        },
        actions={"add": assign(lambda c, e, p: {"n": c["n"] + p["k"]})},
    )
    snapshot, actions = machine.initial_transition()
    snapshot, actions = machine.transition(snapshot, {"type": "GO"})
    assert snapshot.context == {"n": 3}
    assert [(a.type, a.params, a.context) for a in actions] == [("mail", {"to": "x@y"}, {"n": 3})]
    assert actions[0].to_dict() == {"type": "mail", "params": {"to": "x@y"}, "event": {"type": "GO"}, "context": {"n": 3}}


def test_always_runs_after_event_and_before_raised_events():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "context": {"n": 0},
            "states": {
                "a": {"on": {"GO": {"target": "b", "actions": raise_({"type": "RAISED"})}}},
                "b": {"always": {"target": "c", "actions": "always_b"}, "on": {"RAISED": {"target": "x"}}},
                "c": {"on": {"RAISED": {"target": "d", "actions": "raised_in_c"}}},
                "d": {},
                "x": {},
            },
        }
    )
    snapshot, log = run(machine, "GO")
    assert snapshot.value == "d" and log[1] == ["always_b", "raised_in_c"]


def test_always_checked_even_when_event_unhandled():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "context": {"ready": False},
            "states": {"a": {"always": {"target": "b", "guard": "ready"}, "on": {"SET": {"actions": "setReady"}}}, "b": {}},
        },
        guards={"ready": lambda c, e: c["ready"] or e.get("type") == "POKE"},
        actions={"setReady": assign({"ready": True})},
    )
    assert run(machine, "POKE")[0].value == "b"  # unhandled, yet eventless transitions are checked with it
    assert run(machine, "SET")[0].value == "b"


def test_endless_always_loop_raises_clear_error():
    machine = Machine(
        {"id": "loop", "initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {"always": "c"}, "c": {"always": "b"}}},
        max_microsteps=200,
    )
    snapshot, _ = machine.initial_transition()
    with pytest.raises(InfiniteLoopError, match="loop.*GO"):
        machine.transition(snapshot, {"type": "GO"})


def test_wildcards_exact_beats_partial_beats_star():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "states": {
                "a": {
                    "on": {
                        "*": {"actions": "star"},
                        "user.*": {"actions": "user_any"},
                        "user.name.*": {"actions": "user_name_any"},
                        "user.name.set": {"actions": "exact"},
                    }
                }
            },
        }
    )
    _, log = run(machine, "user.name.set", "user.name.clear", "user", "user.x", "username", "other")
    assert log[1:] == [["exact"], ["user_name_any"], ["user_any"], ["user_any"], ["star"], ["star"]]


def test_innermost_state_wins_and_parent_handles_the_rest():
    machine = Machine(
        {
            "id": "m",
            "initial": "p",
            "states": {
                "p": {
                    "initial": "c",
                    "on": {"E": {"actions": "parent"}, "F": {"actions": "parent_f"}},
                    "states": {"c": {"on": {"E": {"actions": "child", "guard": "no"}, "F": {"actions": "child_f"}}}},
                }
            },
        },
        guards={"no": lambda c, e: False},
    )
    assert run(machine, "E", "F")[1][1:] == [["parent"], ["child_f"]]


def test_parallel_regions_take_transitions_in_document_order_and_conflicts_resolve():
    machine = Machine(
        {
            "id": "m",
            "initial": "p",
            "states": {
                "p": {
                    "type": "parallel",
                    "states": {
                        "a": {"initial": "a1", "states": {"a1": {"on": {"E": {"target": "a2", "actions": "ta"}}}, "a2": {}}},
                        "b": {"initial": "b1", "states": {"b1": {"on": {"E": {"target": "b2", "actions": "tb"}, "OUT": {"target": "#m.q", "actions": "tb_out"}}}, "b2": {}}},
                        "c": {"initial": "c1", "states": {"c1": {"on": {"OUT": {"target": "#m.r", "actions": "tc_out"}}}}},
                    },
                },
                "q": {},
                "r": {},
            },
        }
    )
    snapshot, log = run(machine, "E")
    assert snapshot.value == {"p": {"a": "a2", "b": "b2", "c": "c1"}} and log[1] == ["ta", "tb"]
    snapshot, log = run(machine, "OUT")
    assert snapshot.value == "q" and log[1] == ["tb_out"]  # the later, conflicting transition is dropped


def test_lca_may_be_a_parallel_state():
    machine = Machine(
        {
            "id": "m",
            "initial": "p",
            "states": {
                "p": {
                    "type": "parallel",
                    "entry": "in_p",
                    "exit": "out_p",
                    "states": {
                        "a": {"initial": "a1", "entry": "in_a", "exit": "out_a", "states": {"a1": {"on": {"JUMP": "#m.p.b.b2"}}, "a2": {}}},
                        "b": {"initial": "b1", "entry": "in_b", "exit": "out_b", "states": {"b1": {}, "b2": {"entry": "in_b2"}}},
                    },
                }
            },
        }
    )
    snapshot, log = run(machine, "JUMP")
    assert snapshot.value == {"p": {"a": "a1", "b": "b2"}}
    assert log[1] == ["out_b", "out_a", "in_a", "in_b", "in_b2"]  # p itself is neither exited nor re-entered


def test_multiple_targets_into_parallel_regions():
    machine = Machine(
        {
            "id": "m",
            "initial": "idle",
            "states": {
                "idle": {"on": {"GO": {"target": ["p.a.a2", "p.b.b3"]}}},
                "p": {
                    "type": "parallel",
                    "states": {
                        "a": {"initial": "a1", "states": {"a1": {}, "a2": {}}},
                        "b": {"initial": "b1", "states": {"b1": {}, "b2": {}, "b3": {}}},
                        "c": {"initial": "c1", "states": {"c1": {}}},
                    },
                },
            },
        }
    )
    assert run(machine, "GO")[0].value == {"p": {"a": "a2", "b": "b3", "c": "c1"}}


def test_shallow_and_deep_history_with_defaults():
    config = {
        "id": "m",
        "initial": "paused",
        "states": {
            "work": {
                "initial": "one",
                "states": {
                    "one": {"on": {"NEXT": "two"}},
                    "two": {"initial": "x", "states": {"x": {"on": {"NEXT": "y"}}, "y": {}}},
                    "shallow": {"type": "history"},
                    "deep": {"type": "history", "history": "deep"},
                    "fallback": {"type": "history", "target": "two.y"},
                },
                "on": {"PAUSE": "paused"},
            },
            "paused": {
                "on": {"START": "work", "SHALLOW": "work.shallow", "DEEP": "work.deep", "FALLBACK": "work.fallback"},
            },
        },
    }
    machine = Machine(config)
    assert run(machine, "SHALLOW")[0].value == {"work": "one"}  # no record: parent's initial
    assert run(machine, "FALLBACK")[0].value == {"work": {"two": "y"}}  # no record: history target
    assert run(machine, "START", "NEXT", "NEXT", "PAUSE", "SHALLOW")[0].value == {"work": {"two": "x"}}
    assert run(machine, "START", "NEXT", "NEXT", "PAUSE", "DEEP")[0].value == {"work": {"two": "y"}}
    assert run(machine, "START", "PAUSE", "FALLBACK")[0].value == {"work": "one"}  # recorded when work exited


def test_final_states_raise_done_events_and_root_output():
    machine = Machine(
        {
            "id": "m",
            "initial": "steps",
            "context": {"total": 5},
            "output": lambda c, e: {"total": c["total"], "via": e["type"]},
            "states": {
                "steps": {
                    "initial": "s1",
                    "states": {"s1": {"on": {"NEXT": "s2"}}, "s2": {"type": "final", "output": {"ok": True}}},
                    "onDone": {"target": "both", "actions": "steps_done"},
                },
                "both": {
                    "type": "parallel",
                    "exit": "exit_both",
                    "states": {
                        "a": {"initial": "a1", "states": {"a1": {"on": {"A": "a2"}}, "a2": {"type": "final"}}},
                        "b": {"initial": "b1", "states": {"b1": {"on": {"B": "b2"}}, "b2": {"type": "final"}}},
                    },
                    "onDone": "end",
                },
                "end": {"type": "final", "exit": "exit_end"},
            },
        }
    )
    snapshot, log = run(machine, "NEXT", "A")
    assert snapshot.value == {"both": {"a": "a2", "b": "b1"}} and log[1] == ["steps_done"]
    snapshot, log = run(machine, "NEXT", "A", "B")
    assert snapshot.status == "done" and snapshot.value == "end"
    assert snapshot.output == {"total": 5, "via": "xstate.done.state.m.end"}
    assert log[3] == ["exit_both", "exit_end"]  # reaching the root's final state exits everything
    after, actions = machine.transition(snapshot, {"type": "A"})
    assert after is snapshot and actions == []


def test_done_event_carries_final_state_output():
    machine = Machine(
        {
            "id": "m",
            "initial": "job",
            "context": {"result": None},
            "states": {
                "job": {
                    "initial": "run",
                    "states": {"run": {"on": {"FINISH": "ok"}}, "ok": {"type": "final", "output": lambda c, e: {"value": e["value"]}}},
                    "onDone": {"target": "done", "actions": "keep"},
                },
                "done": {},
            },
        },
        actions={"keep": assign({"result": lambda c, e: e["output"]["value"]})},
    )
    assert run(machine, {"type": "FINISH", "value": 42})[0].context == {"result": 42}


def test_after_timers_start_on_entry_cancel_on_exit_restart_on_reentry():
    machine = Machine(
        {
            "id": "m",
            "initial": "wait",
            "states": {
                "wait": {"after": {"1000": "late", "soon": "soon"}, "on": {"POKE": {"target": "wait", "reenter": True}, "LEAVE": "other"}},
                "late": {},
                "soon": {},
                "other": {},
            },
        },
        delays={"soon": lambda c, e: 50},
    )
    snapshot, actions = machine.initial_transition()
    assert [(a.type, a.params["id"], a.params.get("delay")) for a in actions] == [
        ("xstate.raise", "xstate.after.1000.m.wait", 1000),
        ("xstate.raise", "xstate.after.soon.m.wait", 50),
    ]
    assert actions[0].params["event"] == {"type": "xstate.after.1000.m.wait"}
    _, actions = machine.transition(snapshot, {"type": "POKE"})
    assert [a.type for a in actions] == ["xstate.cancel", "xstate.cancel", "xstate.raise", "xstate.raise"]
    _, actions = machine.transition(snapshot, {"type": "LEAVE"})
    assert [(a.type, a.params) for a in actions] == [
        ("xstate.cancel", {"id": "xstate.after.1000.m.wait"}),
        ("xstate.cancel", {"id": "xstate.after.soon.m.wait"}),
    ]
    fired, _ = machine.transition(snapshot, {"type": "xstate.after.soon.m.wait"})
    assert fired.value == "soon"


def test_delayed_raise_and_cancel_are_returned_for_the_runtime():
    machine = Machine(
        {
            "id": "m",
            "initial": "a",
            "states": {"a": {"on": {"ARM": {"actions": "arm"}, "DISARM": {"actions": cancel("alarm")}, "RING": "b"}}, "b": {}},
        },
        actions={"arm": raise_(lambda c, e: {"type": "RING", "at": e["at"]}, id="alarm", delay=250)},
    )
    snapshot, _ = machine.initial_transition()
    _, actions = machine.transition(snapshot, {"type": "ARM", "at": 7})
    assert [(a.type, a.params) for a in actions] == [
        ("xstate.raise", {"event": {"type": "RING", "at": 7}, "id": "alarm", "delay": 250})
    ]
    _, actions = machine.transition(snapshot, {"type": "DISARM"})
    assert [(a.type, a.params) for a in actions] == [("xstate.cancel", {"id": "alarm"})]


def test_invoke_starts_and_stops_services_and_handles_results():
    machine = Machine(
        {
            "id": "m",
            "initial": "idle",
            "context": {"user": None, "error": None},
            "states": {
                "idle": {"on": {"LOAD": "loading"}},
                "loading": {
                    "invoke": {
                        "src": "fetchUser",
                        "id": "fetch",
                        "input": lambda c, e: {"id": e["id"]},
                        "onDone": {"target": "ready", "actions": assign({"user": lambda c, e: e["output"]})},
                        "onError": {"target": "failed", "actions": assign({"error": lambda c, e: e["error"]})},
                    },
                    "on": {"CANCEL": "idle"},
                },
                "ready": {},
                "failed": {},
            },
        }
    )
    snapshot, _ = machine.initial_transition()
    loading, actions = machine.transition(snapshot, {"type": "LOAD", "id": 7})
    assert [(a.type, a.params) for a in actions] == [("xstate.spawnChild", {"id": "fetch", "src": "fetchUser", "input": {"id": 7}})]
    assert loading.children == {"fetch": "fetchUser"}
    ready, actions = machine.transition(loading, {"type": "xstate.done.actor.fetch", "output": {"name": "Ada"}})
    assert ready.value == "ready" and ready.context["user"] == {"name": "Ada"} and ready.children == {}
    # as in XState, a finished child stays among the children until its state is left (stopped then)
    assert [(a.type, a.params) for a in actions] == [("xstate.stopChild", {"id": "fetch"})]
    failed, _ = machine.transition(loading, {"type": "xstate.error.actor.fetch", "error": "boom"})
    assert failed.value == "failed" and failed.context["error"] == "boom"
    cancelled, actions = machine.transition(loading, {"type": "CANCEL"})
    assert [(a.type, a.params) for a in actions] == [("xstate.stopChild", {"id": "fetch"})]
    assert cancelled.children == {}


def test_unhandled_actor_error_puts_machine_in_error_status():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"invoke": {"src": "svc"}}}})
    snapshot, actions = machine.initial_transition()
    assert actions[0].params["id"] == "0.m.a"  # XState's default invoke id
    broken, actions = machine.transition(snapshot, {"type": "xstate.error.actor.0.m.a", "error": "x"})
    assert broken.status == "error" and broken.error == "x"


def test_context_from_input():
    machine = Machine({"id": "m", "initial": "a", "context": lambda input: {"owner": input["owner"]}, "states": {"a": {}}})
    snapshot, _ = machine.initial_transition({"owner": "ada"})
    assert snapshot.context == {"owner": "ada"}


def test_initial_transition_actions_and_eventless_on_start():
    machine = Machine(
        {
            "id": "m",
            "initial": {"target": "a", "actions": "init_action"},
            "entry": "root_entry",
            "states": {"a": {"entry": "a_entry", "always": {"target": "b", "actions": "skip"}}, "b": {"entry": "b_entry"}},
        }
    )
    snapshot, log = run(machine)
    assert snapshot.value == "b"
    assert log[0] == ["root_entry", "init_action", "a_entry", "skip", "b_entry"]


def test_events_must_be_dicts_with_a_type():
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {}}})
    snapshot, _ = machine.initial_transition()
    for bad in ("GO", {"kind": "GO"}, {"type": 3}, None):
        with pytest.raises(TypeError):
            machine.transition(snapshot, bad)


def test_send_to_and_create_instance_are_returned_in_order():
    from statesync import create_instance, send_to

    machine = Machine(
        {
            "id": "parent",
            "initial": "a",
            "context": {"name": "p1"},
            "states": {
                "a": {
                    "on": {
                        "SPAWN": {
                            "actions": [
                                create_instance("child", lambda c, e: f"{c['name']}-kid", {"owner": "p1"}),
                                send_to("child", lambda c, e: f"{c['name']}-kid", lambda c, e: {"type": "HELLO", "n": e["n"]}),
                                "log",
                            ]
                        }
                    }
                }
            },
        }
    )
    snapshot, _ = machine.initial_transition()
    _, actions = machine.transition(snapshot, {"type": "SPAWN", "n": 2})
    assert [(a.type, a.params) for a in actions] == [
        ("statesync.createInstance", {"machine": "child", "instance": "p1-kid", "input": {"owner": "p1"}}),
        ("statesync.sendTo", {"machine": "child", "instance": "p1-kid", "event": {"type": "HELLO", "n": 2}}),
        ("log", {}),
    ]
