"""Differential cases ported from XState's own test suite (statelyai/xstate, packages/core/test).

Each case names its source as ``<file> > <describe> > <it>``. XState's tests check calls on spies
(``vi.fn()``); here the same machines run on both sides and every observation is compared, so a
spy becomes an effect (recorded by name), an ``assign`` of the vocabulary (``inc``, ``add``,
``push:<x>``) or an emitted / logged value. Where a test used an inline function the port uses a
vocabulary name with the same behaviour. Registered into ``cases.CASES`` on import.
"""

from __future__ import annotations

from typing import Any

from .cases import case, ev, machine


def ported(source: str, config: dict[str, Any], steps: list[Any], **extra: Any) -> None:
    case(f"xstate {source}", config, steps, **extra)


def root(**config: Any) -> dict[str, Any]:
    """A root-only machine (XState tests often put everything on the root)."""
    return {"id": "m", "context": {"count": 0}, **config}


# --- emit.test.ts ----------------------------------------------------------------------------

EMIT = "emit.test.ts > event emitter > "
ported(EMIT + "only emits expected events if specified in setup", root(
    entry={"emit": {"type": "nonsense"}},
    exit={"emit": {"type": "greet", "message": 1234}},
    on={"someEvent": {"actions": {"emit": {"type": "greet", "message": "hello"}}}},
), ["someEvent", "someEvent"], build="setup")
ported(EMIT + "emits any events if not specified in setup (unsafe)", root(
    entry={"emit": {"type": "nonsense"}},
    exit={"emit": {"type": "greet", "message": 1234}},
    on={"someEvent": {"actions": {"emit": {"type": "greet", "message": "hello"}}}},
), ["someEvent"])
ported(EMIT + "emits events that can be listened to on actorRef.on(…)", root(
    on={"someEvent": {"actions": {"emit": {"type": "emitted", "foo": "bar"}}}},
), ["someEvent", "other", "someEvent"], build="setup")
ported(EMIT + "enqueue.emit(…) emits events that can be listened to on actorRef.on(…)", root(
    on={"someEvent": {"actions": {"enqueue": [{"emit": {"type": "emitted", "foo": "bar"}},
                                              {"emit": {"type": "unknown"}}]}}},
), ["someEvent"], build="setup")
ported(EMIT + "dynamically emits events that can be listened to on actorRef.on(…)", root(
    context={"count": 10},
    on={"someEvent": {"actions": "emitCount:emitted"}, "inc": {"actions": "inc"}},
), ["someEvent", "inc", "someEvent"])
ported(EMIT + "listener should be able to read the updated snapshot of the emitting actor", machine({
    "a": {"on": {"ev": {"actions": "emit:someEvent", "target": "b"}}},
    "b": {},
}), ["ev", "ev"])
ported(EMIT + "wildcard listeners should be able to receive all emitted events", root(
    on={"event": {"actions": "emit:emitted"}, "another": {"actions": "emit:anotherEmitted"}},
), ["event", "another", "event"], build="setup")

# --- actions.test.ts: log() ------------------------------------------------------------------

LOG = "actions.test.ts > log() > "
ported(LOG + "should log a string", root(
    entry={"log": {"value": "some string", "label": "string label"}},
), [])
ported(LOG + "should log an expression", root(
    context={"count": 42},
    entry="log:expr label",  # the test logs `expr ${context.count}`; the vocabulary logs the count
), [])
ported(LOG + "should log a string (without a label)", root(
    on={"E": {"actions": [{"log": {"value": "no label"}}, "inc", "log:after inc"]}},
), ["E"])
ported(LOG + "should log context and event by default (log())", root(
    on={"E": {"actions": ["inc", "logAll"]}},
), [ev("E", value=1), ev("E")])

# --- actions.test.ts: enqueueActions -----------------------------------------------------------

ENQ = "actions.test.ts > enqueueActions > "
ported(ENQ + "should execute a simple referenced action", root(
    entry={"enqueue": ["someAction"]},
), [])
ported(ENQ + "should execute multiple different referenced actions", root(
    entry={"enqueue": ["someAction", "otherAction"]},
), [])
ported(ENQ + "should execute multiple same referenced actions", root(
    entry={"enqueue": ["someAction", "someAction"]},
), [])
ported(ENQ + "should execute a parameterized action", root(
    entry={"enqueue": [{"type": "add", "params": {"n": 42}}, {"type": "someAction", "params": {"answer": 42}}]},
), [])
ported(ENQ + "should execute a builtin action using its own action creator", root(
    on={"FOO": {"actions": {"enqueue": ["raise:RAISED"]}}, "RAISED": {"actions": "spy"}},
), ["FOO", "FOO"])
ported(ENQ + "should execute a builtin action using its bound action creator", root(
    on={"FOO": {"actions": {"enqueue": [{"raise": "RAISED"}]}}, "RAISED": {"actions": "spy"}},
), ["FOO"])
ported(ENQ + "should execute assigns when resolving the initial snapshot", root(
    entry={"enqueue": [{"assign": {"count": 42}}]},
), [])
ported(ENQ + "should be able to check a simple referenced guard", root(
    entry={"enqueue": [{"if": "even", "then": ["checked_true"], "else": ["checked_false"]}]},
), [])
ported(ENQ + "should be able to check a parameterized guard", root(
    context={"count": 50},
    entry={"enqueue": [{"if": {"type": "gt", "params": {"n": 100}}, "then": ["over"], "else": ["under"]}]},
), [])
ported(ENQ + "createMachine docs example: conditional assign then a referenced action", root(
    on={"E": {"actions": {"enqueue": [{"assign": {"count": 0}}, {"if": "flag", "then": [{"assign": {"count": 1}}]},
                                      "someAction", "peek"]}}, "INC": {"actions": "inc"}},
), ["INC", "E", ev("E", flag=True), "INC", ev("E", flag=False)])
ported(ENQ + "(statesync) check sees the context from before the queued actions", root(
    on={"E": {"actions": {"enqueue": [{"assign": {"count": 5}}, {"if": "gt:3", "then": ["saw_5"], "else": ["saw_old"]}, "peek"]}}},
), ["E", "E"])
ported(ENQ + "(statesync) queued actions see each other's assigns", root(
    entry={"enqueue": ["inc", "peek_a", "dbl", "peek_b", {"type": "add", "params": {"n": 3}}, "peek_c"]},
), [])
ported(ENQ + "(statesync) computed actions: repeat by the context", root(
    context={"count": 3, "log": []},
    on={"E": {"actions": {"enqueue": [{"repeat": ["push:x", "fx"]}]}}, "INC": {"actions": "inc"}},
), ["E", "INC", "E"])
ported(ENQ + "(statesync) nested enqueueActions", root(
    on={"E": {"actions": {"enqueue": ["a1", {"enqueue": ["inc", {"if": "odd", "then": ["odd_inner"]}]}, "a2", "peek"]}}},
), ["E", "E"])
ported(ENQ + "(statesync) delayed raise and cancel from enqueueActions", machine({
    "a": {"on": {"START": {"actions": {"enqueue": [{"raise": "TICK", "delay": 100, "id": "t"}]}},
                 "STOP": {"actions": {"enqueue": [{"cancel": "t"}]}},
                 "TICK": {"target": "b", "actions": "ticked"}}},
    "b": {},
}), ["START", {"advance": 50}, "STOP", {"advance": 100}, "START", {"advance": 100}])
ported(ENQ + "(statesync) enqueueActions in entry, exit and transition: order", machine({
    "a": {"entry": {"enqueue": ["en_a"]}, "exit": {"enqueue": ["ex_a", "inc"]},
          "on": {"GO": {"target": "b", "actions": {"enqueue": ["t", "peek"]}}}},
    "b": {"entry": ["en_b", {"enqueue": [{"if": "odd", "then": ["en_b_odd"], "else": ["en_b_even"]}]}]},
}), ["GO"])
ported(ENQ + "(statesync) enqueueActions emits and logs", root(
    on={"E": {"actions": {"enqueue": ["inc", {"emit": {"type": "changed"}}, {"log": "count"},
                                      {"if": "even", "then": [{"emit": {"type": "even"}}]}]}}},
), ["E", "E", "E"])
ported(ENQ + "(statesync) named enqueueActions with params (setup)", root(
    entry={"type": "enqAddTwice", "params": {"n": 3}},
    on={"E": {"actions": {"type": "enqAddTwice", "params": {"n": -1}}}},
), ["E"], build="setup")
ported(ENQ + "(statesync) enqueueActions raising events handled in the same macrostep", machine({
    "a": {"on": {"GO": {"actions": {"enqueue": [{"raise": "NEXT"}, {"raise": "NEXT"}, "t"]}}, "NEXT": "b"}},
    "b": {"on": {"NEXT": {"target": "c", "actions": "in_b"}}},
    "c": {"entry": "en_c"},
}), ["GO"])
ported(ENQ + "(statesync) check with composite guards and stateIn", machine({
    "r1": {"initial": "x", "states": {"x": {"on": {"GO": "y"}}, "y": {}}},
    "r2": {"on": {"E": {"actions": {"enqueue": [
        {"if": {"and": ["even", {"stateIn": "#m.r1.y"}]}, "then": ["both"], "else": ["not_both"]},
        {"if": {"not": "flag"}, "then": ["no_flag"]}]}}}},
}, type="parallel"), ["E", "GO", "E", ev("E", flag=True)])

# --- machine.test.ts: machine.provide / actions.test.ts: actions config ----------------------------

PROVIDE = "machine.test.ts > machine.provide > "
ported(PROVIDE + "should override an action", root(
    context={"count": 0, "log": []},
    entry="entryAction",
), [], implementations={"actions": {"entryAction": "push:original"}},
    provide={"actions": {"entryAction": "push:overridden"}})
ported(PROVIDE + "should override a guard", root(
    on={"EVENT": [{"guard": "someCondition", "actions": "taken"}, {"actions": "fallback"}]},
), ["EVENT"], implementations={"guards": {"someCondition": "odd"}},
    provide={"guards": {"someCondition": "even"}})
ported(PROVIDE + "should not override context if not defined", root(
    context={"foo": "bar"},
), [], provide={})
ported(PROVIDE + "(statesync) provide after setup keeps the other implementations", root(
    on={"E": {"actions": ["a1", "a2"], "guard": "g"}},
), ["E", "E"], build="setup", implementations={"actions": {"a1": "inc", "a2": "dbl"}, "guards": {"g": "even"}},
    provide={"actions": {"a2": "inc"}})
ported(PROVIDE + "(statesync) provide a delay", machine({
    "a": {"after": {"wait": {"target": "b", "actions": "t"}}},
    "b": {},
}), [{"advance": 40}, {"advance": 20}], implementations={"delays": {"wait": 100}}, provide={"delays": {"wait": 50}})
ported(PROVIDE + "(statesync) setup with delays, guards and actions", machine({
    "a": {"after": {"wait": [{"guard": "isBig", "target": "b", "actions": "bump"}, {"target": "a", "reenter": True, "actions": "bump"}]}},
    "b": {"entry": "done_b"},
}), [{"advance": 30}, {"advance": 30}, {"advance": 30}], build="setup",
    implementations={"delays": {"wait": 30}, "guards": {"isBig": "gt:1"}, "actions": {"bump": "inc"}})

ACFG = "actions.test.ts > actions config > "
ported(ACFG + "should reference actions defined in actions parameter of machine options (entry actions)", machine({
    "a": {"on": {"EVENT": "b"}},
    "b": {"entry": ["definedAction", {"type": "definedAction"}, "undefinedAction"]},
}, on={"E": ".a"}), ["EVENT", "E", "EVENT"], provide={"actions": {"definedAction": "inc"}})
ported(ACFG + "should reference actions defined in actions parameter of machine options (initial state)", root(
    entry=["definedAction", {"type": "definedAction"}, "undefinedAction"],
), [], implementations={"actions": {"definedAction": "inc"}})
ported(ACFG + "should be able to reference action implementations from action objects", machine({
    "a": {"entry": ["definedAction", {"type": "definedAction"}, "undefinedAction"],
          "on": {"EVENT": {"target": "b", "actions": [{"type": "definedAction"}, {"type": "updateContext", "params": {"n": 10}}]}}},
    "b": {},
}), ["EVENT"], implementations={"actions": {"updateContext": "add"}})

# --- meta.test.ts ----------------------------------------------------------------------------

PEDESTRIAN = {
    "initial": "walk",
    "states": {
        "walk": {"meta": {"walkData": "walk data"}, "on": {"PED_COUNTDOWN": "wait"}, "entry": "enter_walk", "exit": "exit_walk"},
        "wait": {"meta": {"waitData": "wait data"}, "on": {"PED_COUNTDOWN": "stop"}, "entry": "enter_wait", "exit": "exit_wait"},
        "stop": {"meta": {"stopData": "stop data"}, "entry": "enter_stop", "exit": "exit_stop"},
    },
}
LIGHT = {
    "id": "light", "initial": "green", "states": {
        "green": {"meta": ["green", "array", "data"], "on": {"TIMER": "yellow", "POWER_OUTAGE": "red", "NOTHING": "green"},
                  "entry": "enter_green", "exit": "exit_green"},
        "yellow": {"meta": {"yellowData": "yellow data"}, "on": {"TIMER": "red", "POWER_OUTAGE": "red"},
                   "entry": "enter_yellow", "exit": "exit_yellow"},
        "red": {"meta": {"redData": {"nested": {"red": "data", "array": [1, 2, 3]}}},
                "on": {"TIMER": "green", "POWER_OUTAGE": "red", "NOTHING": "red"},
                "entry": "enter_red", "exit": "exit_red", **PEDESTRIAN},
    },
}
META = "meta.test.ts > state meta data > "
ported(META + "states should aggregate meta data", LIGHT, ["TIMER"])
ported(META + "states should aggregate meta data (deep)", LIGHT, ["TIMER", "TIMER", "PED_COUNTDOWN", "PED_COUNTDOWN", "TIMER"])
ported(META + "should allow states to omit meta", machine({
    "a": {"on": {"E": "b"}}, "b": {"meta": None, "on": {"E": "c"}}, "c": {"meta": {"c": True}},
}, meta={"root": 1}), ["E", "E"])

# --- guards.test.ts --------------------------------------------------------------------------

GUARDS = "guards.test.ts > "
ported(GUARDS + "referenced guards > should be possible to resolve referenced guards recursively", machine({
    "a": {"on": {"EVENT": {"target": "b", "guard": "ref1"}}}, "b": {},
}), ["EVENT"], implementations={"guards": {"ref1": "ref2", "ref2": "ref3", "ref3": "even"}})
ported(GUARDS + "referenced guards > should be possible to reference a composite guard that references other guards recursively", machine({
    "a": {"on": {"EVENT": {"target": "b", "guard": "referenced"}}}, "b": {},
}), ["EVENT"], implementations={"guards": {
    "truthy": "even", "falsy": "odd",  # at count 0; the test's inline `() => false` is "odd" too
    "referenced": {"or": ["odd", {"not": "truthy"}, {"and": [{"not": "falsy"}, "truthy"]}]}}})
ported(GUARDS + "guards with params > should call an object guard referenced by referenced `not` with its own params", machine({
    "a": {"on": {"FOO": [{"guard": {"type": "myGuard", "params": "foo"}, "actions": "passed"}, {"actions": ["blocked", "inc"]}]}},
}), ["FOO", "FOO", "FOO"], implementations={"guards": {"myGuard": {"not": {"type": "gt", "params": {"n": 0}}}}})
ported(GUARDS + "guards with params > should call an object guard referenced by referenced `and` with its own params", machine({
    "a": {"on": {"FOO": [{"guard": {"type": "myGuard", "params": "foo"}, "actions": "passed"}, {"actions": ["blocked", "inc"]}]}},
}), ["FOO", "FOO", "FOO"], implementations={"guards": {"myGuard": {"and": [{"type": "gt", "params": {"n": 0}}, "odd"]}}})

# --- id.test.ts ------------------------------------------------------------------------------

IDS = "id.test.ts > State node IDs > "
ported(IDS + "should work with ID + relative path", {
    "id": "m", "initial": "foo", "on": {"ACTION": "#bar.qux.quux"},
    "states": {"foo": {"id": "foo"}, "bar": {"id": "bar", "initial": "baz", "states": {
        "baz": {}, "qux": {"initial": "quux", "states": {"quux": {"id": "#bar.qux.quux"}}}}}},
}, ["ACTION"])
ported(IDS + "should work with keys that have escaped periods", {
    "id": "m", "initial": "start", "states": {
        "start": {"on": {"escaped": "foo\\.bar", "unescaped": "foo.bar"}},
        "foo.bar": {"entry": "en_dotted"}, "foo": {"initial": "bar", "states": {"bar": {"entry": "en_bar"}}}},
}, ["unescaped"])
ported(IDS + "should work with keys that have escaped periods (escaped)", {
    "id": "m", "initial": "start", "states": {
        "start": {"on": {"escaped": "foo\\.bar", "unescaped": "foo.bar"}},
        "foo.bar": {"entry": "en_dotted"}, "foo": {"initial": "bar", "states": {"bar": {"entry": "en_bar"}}}},
}, ["escaped"])
ported(IDS + "should work with IDs that have escaped periods", {
    "id": "m", "initial": "start", "states": {
        "start": {"on": {"escaped": "#foo\\.bar", "unescaped": "#foo.bar"}},
        "stateWithDot": {"id": "foo.bar"}, "foo": {"id": "foo", "initial": "bar", "states": {"bar": {}}}},
}, ["unescaped"])
ported(IDS + "should not treat escaped backslash as period's escape", {
    "id": "m", "initial": "start", "states": {
        "start": {"on": {"EV": "#some\\\\.thing"}},
        "foo": {"id": "some\\.thing"},
        "bar": {"id": "some\\", "initial": "baz", "states": {"baz": {}, "thing": {}}}},
}, ["EV"])
ported("id.test.ts > State node IDs > idMachine (NEXT_DOT_RESOLVE, NEXT_DOT)", {
    "id": "m", "initial": "A", "states": {
        "A": {"id": "A", "initial": "foo", "on": {"NEXT_DOT_RESOLVE": "#B.bar"}, "states": {
            "foo": {"id": "A_foo", "on": {"NEXT": "#A_bar"}}, "bar": {"id": "A_bar", "on": {"NEXT": "#B_foo"}}}},
        "B": {"id": "B", "initial": "foo", "states": {
            "foo": {"id": "B_foo", "on": {"NEXT": "#B_bar", "NEXT_DOT": "#B.dot"}},
            "bar": {"id": "B_bar", "on": {"NEXT": "#A_foo"}}, "dot": {}}}},
}, ["NEXT", "NEXT", "NEXT_DOT", "NEXT_DOT_RESOLVE"])

# --- final.test.ts: output -------------------------------------------------------------------

FINAL = "final.test.ts > final states > "
ported(FINAL + "should emit the \"xstate.done.state.*\" event when all nested states are in their final states", machine({
    "first": {"type": "parallel", "onDone": "second", "states": {
        "alpha": {"initial": "start", "states": {"start": {"on": {"NEXT_1": "end"}}, "end": {"type": "final"}}},
        "beta": {"initial": "start", "states": {"start": {"on": {"NEXT_2": "end"}}, "end": {"type": "final"}}}}},
    "second": {"type": "final"},
}), ["NEXT_1", "NEXT_2"])
ported(FINAL + "(statesync) a final state's output null reaches onDone and the root", machine({
    "p": {"initial": "a", "onDone": {"target": "end", "actions": "outk"},
          "states": {"a": {"on": {"F": "f"}}, "f": {"type": "final", "output": None}}},
    "end": {"type": "final", "output": None},
}, context={"count": 0, "v": "unset"}, output="$event"), ["F"])

# --- check() sees the configuration from before the microstep (as XState's snapshot) -----------

ported(ENQ + "(statesync) check(stateIn) in a transition sees the states before it", machine({
    "a": {"on": {"GO": {"target": "b", "actions": {"enqueue": [
        {"if": {"stateIn": "#m.a"}, "then": ["still_in_a"], "else": ["left_a"]},
        {"if": {"stateIn": "#m.b"}, "then": ["already_in_b"]}]}}}},
    "b": {"entry": {"enqueue": [{"if": {"stateIn": "#m.b"}, "then": ["entry_sees_b"], "else": ["entry_sees_no_b"]}]},
          "on": {"BACK": "a"}},
}), ["GO", "BACK", "GO"])
ported(ENQ + "(statesync) check(stateIn) in the initial entry actions", machine({
    "a": {"entry": {"enqueue": [{"if": {"stateIn": "#m.a"}, "then": ["init_in_a"], "else": ["init_not_in_a"]},
                                {"if": {"stateIn": "a"}, "then": ["init_matches_a"], "else": ["init_no_match"]}]}},
}), [])

# --- actions.test.ts: assign action order, action meta -------------------------------------

ORDER = "actions.test.ts > assign action order > "
ported(ORDER + "should preserve action order", root(
    entry=["peek_0", "inc", "peek_1", "inc", "peek_2"],
), [])
ported(ORDER + "should deeply preserve action order", root(
    entry=["peek_0", {"enqueue": ["inc", {"type": "peek_capture"}, "inc"]}, "peek_2"],
), [])
ported(ORDER + "should capture correct context values on subsequent transitions", root(
    on={"EV": {"actions": ["inc", "peek"]}},
), ["EV", "EV"])
ported("actions.test.ts > action meta > should provide the original params (an effect's params, an assign's)", machine({
    "foo": {"entry": [{"type": "entryAction", "params": {"value": "something"}}, {"type": "add", "params": {"n": 4}},
                      {"emit": {"type": "entered"}}, {"type": "emitParams", "params": {"type": "withParams", "value": "something"}}]},
}, id="test"), [])
