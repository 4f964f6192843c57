"""Hand-written differential cases for XState v5 corners (issue 14): done events that carry
``output: null``, ``#id.child`` targets, dotted state keys, guard aliases and parameterized
guard objects as implementations. Registered into ``cases.CASES`` on import.
"""

from __future__ import annotations

from .cases import case, ev, machine

# --- output: null is kept in done events (XState omits `output` only when it is undefined) ----

case("final: compound onDone event keeps output null", machine({
    "p": {"initial": "a", "onDone": {"target": "q", "actions": ["outk", "peek_done"]},
          "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final", "output": None}}},
    "q": {},
}, context={"count": 0, "v": "unset"}), ["F"])
case("final: root done event keeps a final state's output null", machine({
    "a": {"on": {"END": "done"}},
    "done": {"type": "final", "output": None},
}, output="$event"), ["END"])
case("final: root output null", machine({
    "a": {"on": {"END": "done"}},
    "done": {"type": "final"},
}, output=None), ["END"])
case("final: compound onDone without output has no output key", machine({
    "p": {"initial": "a", "onDone": {"target": "q", "actions": ["outk"]},
          "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final"}}},
    "q": {"on": {"END": "end"}},
    "end": {"type": "final"},
}, context={"count": 0, "v": "unset"}, output="$event"), ["F", "END"])

# --- `#a.b`: the id is the part before the first unescaped dot --------------------------------

case("target #foo.bar is state id foo, then child bar (not the state with id foo.bar)", machine({
    "start": {"on": {"GO": "#foo.bar", "ESC": "#foo\\.bar"}},
    "stateWithDot": {"id": "foo.bar", "entry": "en_dotted"},
    "foo": {"id": "foo", "initial": "baz", "states": {"baz": {}, "bar": {"entry": "en_bar"}}},
}), ["GO"])
case("target #foo\\.bar reaches the state whose id has a dot", machine({
    "start": {"on": {"ESC": "#foo\\.bar"}},
    "stateWithDot": {"id": "foo.bar", "entry": "en_dotted"},
    "foo": {"id": "foo", "initial": "baz", "states": {"baz": {}, "bar": {"entry": "en_bar"}}},
}), ["ESC"])
case("a machine id with a dot cannot be targeted as #id.child", {
    "id": "my.app", "initial": "a", "states": {"a": {"on": {"GO": "#my.app.b"}}, "b": {}},
}, ["GO"])
case("#id.child.grandchild target", machine({
    "a": {"on": {"GO": "#P.q.r"}},
    "p": {"id": "P", "initial": "x", "states": {"x": {}, "q": {"initial": "s", "states": {
        "s": {}, "r": {"entry": "en_r"}}}}},
}), ["GO"])
case("stateIn with #id.child", machine({
    "r1": {"initial": "a", "states": {"a": {"on": {"GO": "b"}}, "b": {}}},
    "r2": {"id": "R2", "initial": "c", "states": {"c": {"on": {
        "T": [{"guard": {"stateIn": "#m.r1.b"}, "actions": "in_b"}, {"actions": "not_in_b"}]}}}},
}, type="parallel"), ["T", "GO", "T"])

# --- state keys containing a dot, targeted with an escaped dot --------------------------------

case("state key with a dot, targeted with an escaped dot", machine({
    "a": {"on": {"GO": "foo\\.bar"}},
    "foo.bar": {"entry": "en_dotted", "on": {"BACK": "a", "IN": "foo\\.bar.x\\.y"}, "initial": "w",
                "states": {"w": {}, "x.y": {"entry": "en_xy"}}},
}), ["GO", "IN", "BACK"])
# (XState refuses ".x\\.y" from the state "foo.bar": it prefixes the key unescaped, giving
# "foo.bar.x\\.y"; statesync resolves it from the state itself, see tests/core/test_v5_corners.py.)
case("state key with a dot, done event id", machine({
    "foo.bar": {"initial": "a", "onDone": {"target": "end", "actions": "done_dotted"},
                "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final"}}},
    "end": {"type": "final"},
}, output="$event"), ["F"])

# --- guard implementations that are an alias or a parameterized guard object ------------------

case("guard implementation that names another guard", machine({
    "a": {"on": {"E": [{"guard": "ref1", "target": "b"}, {"actions": "inc"}]}},
    "b": {"entry": "en_b"},
}), ["E", "E"], implementations={"guards": {"ref1": "ref2", "ref2": "odd"}})
case("guard implementation that is a parameterized guard object", machine({
    "a": {"on": {"E": [{"guard": "big", "target": "b"}, {"actions": "inc"}]}},
    "b": {"entry": "en_b"},
}), ["E", "E", "E", "E"], implementations={"guards": {"big": {"type": "gt", "params": {"n": 2}}}})
case("parameterized alias: the alias's own params win over the reference's", machine({
    "a": {"on": {"E": [{"guard": {"type": "big", "params": {"n": 0}}, "target": "b"}, {"actions": "inc"}]}},
    "b": {"entry": "en_b"},
}), ["E", "E", "E", "E"], implementations={"guards": {"big": {"type": "gt", "params": {"n": 2}}}})
case("guard alias inside and/not", machine({
    "a": {"on": {"E": [{"guard": {"and": ["ref1", {"not": "big"}]}, "actions": "yes"}, {"actions": ["no", "inc"]}]}},
}), ["E", "E", "E", "E", "E"],
    implementations={"guards": {"ref1": "even", "big": {"type": "gt", "params": {"n": 3}}}})

# --- stateIn("#b.on") is resolved when the guard runs, as XState does (issue 22) --------------
# XState's stateIn looks the id up at evaluation: with only a state whose id is "b.on" (no
# state "b"), the machine is accepted, the guard fails the step only when it is evaluated.

DOTTED_ID = {
    "A": {"initial": "a1", "states": {"a1": {"on": {
        "T": {"target": "#A2", "guard": {"stateIn": "#b.on"}},
        "U": {"target": "#A2", "guard": {"stateIn": "#b\\.on"}, "actions": "went"}}}}},
    "A2": {"id": "A2", "entry": "en_a2"},
    "C": {"id": "b.on", "entry": "en_c"},
}
case("stateIn #b.on with only an id 'b.on': accepted, never evaluated", machine(DOTTED_ID), ["X", "U"])
case("stateIn #b.on with only an id 'b.on': an error when evaluated", machine(DOTTED_ID), ["U", "T"])
case("stateIn #b.on with ids 'b' and 'b.on': state b, then child on", machine({
    "A": {"initial": "a1", "states": {"a1": {"on": {"T": {"target": "a2", "guard": {"stateIn": "#b.on"}}}},
                                      "a2": {"entry": "en_a2"}}},
    "B": {"id": "b", "initial": "on", "states": {"on": {"on": {"OFF": "off"}}, "off": {}}},
    "C": {"id": "b.on", "entry": "en_c"},
}, type="parallel"), ["OFF", "T"])
case("stateIn #b.on with a state 'b' that has no child 'on': an error when evaluated", machine({
    "A": {"initial": "a1", "states": {"a1": {"on": {"T": {"target": "a2", "guard": {"stateIn": "#b.on"}}}},
                                      "a2": {}}},
    "B": {"id": "b", "initial": "x", "states": {"x": {}}},
}, type="parallel"), ["X", "T"])

# --- can() on a done or error snapshot (issue 22) ---------------------------------------------
# XState's snapshot.can answers by the transition it would select from the snapshot's states,
# whatever its status (a done actor processes no event, but `can` still says true). A case's
# `can` lists events asked after every step (tests/differential/harness.py).

CAN = [ev("E"), ev("F"), ev("G"), ev("NOPE")]
case("can: a done snapshot whose final state's ancestors still have transitions", machine({
    "p": {"initial": "a", "on": {"F": {"actions": "fx"}}, "states": {
        "a": {"on": {"END": "done"}},
        "done": {"type": "final", "on": {"E": {"actions": "fx"}}}}},
}, type="parallel", on={"G": {"target": ".p"}}), ["END", "E"], can=CAN)
case("can: a done snapshot whose root has a guarded transition", machine({
    "a": {"on": {"END": "done"}},
    "done": {"type": "final"},
}, on={"E": {"actions": "fx", "guard": "even"}, "F": {"actions": "fx", "guard": "odd"}, "G": {}}),
    ["END", "E"], can=CAN)
case("can: an error snapshot after an action threw answers from the states before the step", machine({
    "a": {"on": {"BREAK": {"target": "b", "actions": "sendTo:nobody:EV"}, "E": "b",
                 "F": {"target": "b", "guard": "odd"}}},
    "b": {"on": {"G": "a"}},
}), ["E", "G", "BREAK", "E"], can=CAN)
case("can: an error snapshot after an unhandled child error", machine({
    "a": {"invoke": {"src": "child", "id": "c"}, "on": {"BREAK": {"actions": "sendTo:c:BREAK"},
                                                        "E": {"actions": "fx"}}},
}), ["BREAK", "E"], can=CAN, actors={"child": {"config": machine(
    {"w": {"on": {"BREAK": {"actions": "sendTo:nobody:EV"}}}}, id="child")}})
