"""Differential cases for child machines, ported from XState's tests (statelyai/xstate,
packages/core/test): invoke.test.ts, actions.test.ts (forwardTo, sendTo, exit handlers of a
done child), spawnChild.test.ts. Each names its source as ``<file> > <describe> > <it>``.

XState's tests wait for `complete` or check a spy; here the same parent and child machines
run on both sides (``actors``: the child machines by ``src``) and every observation is
compared, including the running children's own state (``children``). Where a test used an
inline guard or action, the port uses the vocabulary's equivalent (``flag``, ``lt:<n>``,
``add``). Registered into ``cases.CASES`` on import.
"""

from __future__ import annotations

from typing import Any

from .cases import case, ev, machine


def ported(source: str, config: dict[str, Any], steps: list[Any], **extra: Any) -> None:
    case(f"xstate {source}", config, steps, **extra)


def child(states: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A child machine case (its config, with id ``child`` unless given)."""
    return {"config": machine(states, **{"id": "child", **extra})}


INVOKE = "invoke.test.ts > invoke > "
P2C = INVOKE + "parent to child > "

ported(INVOKE + "child can immediately respond to the parent with multiple events", machine({
    "start": {
        "invoke": {"src": "child", "id": "someService"},
        "always": {"target": "stop", "guard": "lt:-2"},
        "on": {"DEC": {"actions": {"type": "add", "params": {"n": -1}}},
               "FORWARD_DEC": {"actions": "sendTo:someService:FORWARD_DEC"}},
    },
    "stop": {"type": "final"},
}, id="parent"), ["FORWARD_DEC"], actors={"child": child({
    "init": {"on": {"FORWARD_DEC": {"actions": ["sendParent:DEC", "sendParent:DEC", "sendParent:DEC"]}}},
})})

SUB = child({"one": {"on": {"NEXT": "two"}}, "two": {"entry": "sendParent:NEXT"}})
ported(P2C + "should communicate with the child machine (invoke on machine)", machine({
    "one": {"entry": "sendTo:foo-child:NEXT", "on": {"NEXT": "two"}},
    "two": {"type": "final"},
}, id="parent", invoke={"id": "foo-child", "src": "subMachine"}), [], actors={"subMachine": SUB})
ported(P2C + "should communicate with the child machine (invoke on state)", machine({
    "one": {"invoke": {"id": "foo-child", "src": "subMachine"}, "entry": "sendTo:foo-child:NEXT",
            "on": {"NEXT": "two"}},
    "two": {"type": "final"},
}, id="parent"), [], actors={"subMachine": SUB})
ported(P2C + "should transition correctly if child invocation causes it to directly go to final state", machine({
    "one": {"invoke": {"id": "foo-child", "src": "doneSubMachine", "onDone": "two"},
            "entry": "sendTo:foo-child:NEXT"},
    "two": {"on": {"NEXT": "three"}},
    "three": {"type": "final"},
}, id="parent"), ["NEXT"], actors={"doneSubMachine": child({"one": {"on": {"NEXT": "two"}},
                                                             "two": {"type": "final"}})})
ported(P2C + "should work with invocations defined in orthogonal state nodes", machine({
    "one": {"initial": "active", "states": {
        "active": {"invoke": {"id": "pong", "src": "pongMachine",
                              "onDone": {"target": "success", "actions": "outv"}}},
        "success": {"type": "final"},
    }},
}, id="ping", type="parallel"), [], actors={"pongMachine": child(
    {"active": {"type": "final"}}, id="pong", output={"secret": "pingpong"})})
ported(INVOKE + "should start services (machine as invoke config), with input and output", machine({
    "pending": {"invoke": {"src": "child", "id": "fetch", "input": "$context",
                           "onDone": {"target": "success", "actions": "outv"}}},
    "success": {"type": "final"},
}, context={"count": 3}), [], actors={"child": {"config": machine({
    "working": {"entry": "inc", "always": "done"},
    "done": {"type": "final"},
}, id="child", context="$input", output="$context")}})

ACT = "actions.test.ts > "
FORWARD_CHILD = child({"active": {"on": {"EVENT": {"actions": "sendParent:SUCCESS", "guard": "flag"}}}})
ported(ACT + "forwardTo() > should forward an event to a service", machine({
    "first": {"invoke": {"src": "child", "id": "myChild"},
              "on": {"EVENT": {"actions": "forwardTo:myChild"}, "SUCCESS": "last"}},
    "last": {"type": "final"},
}, id="parent"), [ev("EVENT", flag=False), ev("EVENT", flag=True)], actors={"child": FORWARD_CHILD})
ported(ACT + "sendTo > should be able to send an event to a named actor (spawned)", machine({
    "running": {"entry": ["spawn:child:child", "sendTo:child:EVENT"]},
}), ["NOTHING"], actors={"child": child({"waiting": {"on": {"EVENT": {"actions": "inc", "target": "got"}}},
                                         "got": {}})})
ported(ACT + "entry/exit actions > when stopped > sent events from exit handlers of a done child "
       "should be received by the parent", machine({
    "idle": {"entry": "spawn:child:kid", "on": {"FINISH_CHILD": {"actions": "sendTo:kid:FINISH"},
                                                "CHILD_DONE": {"actions": "push:got"}}},
}, id="parent", context={"log": []}), ["FINISH_CHILD"], actors={"child": child(
    {"active": {"on": {"FINISH": "done"}}, "done": {"type": "final"}}, exit="sendParent:CHILD_DONE")})

SPAWN = "spawnChild.test.ts > spawnChild action > "
ported(SPAWN + "can spawn from named actor (a machine; stopped by stopChild)", machine({
    "a": {"entry": "spawn:counter:child",
          "on": {"PING": {"actions": "sendTo:child:PING"}, "STOP": {"actions": "stopChild:child"},
                 "COUNT": {"actions": "inc"}}},
}), ["PING", "PING", "STOP", "PING"], actors={"counter": child(
    {"on": {"on": {"PING": {"actions": ["inc", "sendParentCount:COUNT"]}}}}, context={"count": 0})})

# --- statesync's own cases for the same actions -------------------------------------------------

OWN = "(statesync) child machines > "
ported(OWN + "send_to an id that is no child is an error on both sides", machine({
    "a": {"on": {"GO": {"actions": "sendTo:nobody:EV"}}},
}), ["GO"])
ported(OWN + "leaving the invoking state stops the child; re-entering invokes a new one", machine({
    "on": {"invoke": {"src": "child", "id": "c"}, "on": {"OFF": "off", "PING": {"actions": "forwardTo:c"}}},
    "off": {"on": {"ON": "on"}},
}), ["PING", "PING", "OFF", "ON", "PING"], actors={"child": child(
    {"w": {"on": {"PING": {"actions": "inc"}}}}, context={"count": 0})})
ported(OWN + "a child's error reaches the parent's onError; unhandled it ends the parent", machine({
    "a": {"invoke": {"src": "child", "id": "c", "onError": "failed"},
          "on": {"BREAK": {"actions": "sendTo:c:BREAK"}}},
    "failed": {"on": {"AGAIN": "b"}},
    "b": {"invoke": {"src": "child", "id": "d"}, "on": {"BREAK": {"actions": "sendTo:d:BREAK"}}},
}), ["BREAK", "AGAIN", "BREAK"], actors={"child": child(
    {"w": {"on": {"BREAK": {"actions": "sendTo:nobody:EV"}}}})})
ported(OWN + "grandchildren: events go up two levels and done events come back", machine({
    "a": {"invoke": {"src": "middle", "id": "mid", "onDone": {"target": "b", "actions": "outv"}},
          "on": {"DEEP": {"actions": "sendTo:mid:DEEP"}, "UP": {"actions": "inc"}}},
    "b": {},
}), ["DEEP", "DEEP"], actors={"middle": {
    "config": machine({
        "m": {"invoke": {"src": "leaf", "id": "leaf", "onDone": "end"},
              "on": {"DEEP": {"actions": "forwardTo:leaf"}, "UP": {"actions": ["inc", "sendParent:UP"]}}},
        "end": {"type": "final"},
    }, id="middle", output="$context"),
    "actors": {"leaf": child({"l": {"on": {"DEEP": [{"target": "fin", "guard": "odd"},
                                                       {"actions": ["inc", "sendParent:UP"]}]}},
                              "fin": {"type": "final"}})},
}})
ported(OWN + "a done child stays among the children until stopped (sending to it is no error)", machine({
    "a": {"entry": "spawn:fin:k",
          "on": {"xstate.done.actor.k": {"actions": "outv"}, "POKE": {"actions": "sendTo:k:EV"},
                 "STOP": {"actions": "stopChild:k"}}},
}), ["POKE", "STOP", "POKE"], actors={"fin": child({"end": {"type": "final"}}, output={"n": 1})})

# --- issue 22: computed spawn ids, delayed send_to, send_to self, the system registry, self in
# enqueue_actions, sync_snapshot ----------------------------------------------------------------

COUNTER_CHILD = child({"w": {"on": {"FOO": {"actions": "inc"}, "PING": {"actions": ["inc", "sendParent:PONG"]}}}},
                      context={"count": 0})
ported(SPAWN + "should handle a dynamic id", machine({
    "a": {"entry": ["spawnAt:child", "sendToAt:FOO"]},
}), [], actors={"child": COUNTER_CHILD})
ported(OWN + "computed ids: spawn, send to and stop children named from the context", machine({
    "a": {"entry": "spawnAt:child",
          "on": {"NEXT": {"actions": ["inc", "spawnAt:child"]}, "FOO": {"actions": "sendToAt:FOO"},
                 "STOP": {"actions": "stopChildAt"}, "PONG": {"actions": "push:pong"}}},
}, context={"count": 0, "log": []}), ["FOO", "NEXT", "FOO", "FOO", "STOP", "FOO"],
    actors={"child": COUNTER_CHILD})

ACTIONS = "actions.test.ts > sendTo > "
ported(ACTIONS + "a self-event handler of an event sent using sendTo should be able to read updated "
       "snapshot of self", machine({
    "a": {"on": {"NEXT": "b"}},
    "b": {"entry": ["inc", "sendSelf:EVENT"], "on": {"EVENT": {"actions": "peek", "target": "c"}}},
    "c": {},
}), ["NEXT", "EVENT"])
ported(OWN + "send_to self is taken after the macrostep, after raised events", machine({
    "a": {"on": {"GO": {"actions": ["sendSelf:S", "raise:R", "sendInternal:I"]},
                 "R": {"actions": "push:r"}, "S": {"actions": "push:s"}, "I": {"actions": "push:i"}}},
}, context={"count": 0, "log": []}), ["GO"])
ported(ACTIONS + "should not attempt to deliver a delayed event to the spawned actor's ID that was "
       "stopped since the event was scheduled", machine({
    "a": {"on": {"START": "b"}},
    "b": {"entry": ["spawn:child1:myChild", "sendToDelayed:myChild:PING:1", "stopChild:myChild",
                    "spawn:child2:myChild"]},
}), ["START", {"advance": 10}], actors={"child1": COUNTER_CHILD, "child2": COUNTER_CHILD})
ported(OWN + "delayed send_to a child: delivered after the delay, cancelled by its id", machine({
    "a": {"entry": "spawn:child:c",
          "on": {"LATER": {"actions": "sendToDelayed:c:PING:100:p"}, "CANCEL": {"actions": "cancel:p"},
                 "PONG": {"actions": "push:pong"}}},
}, context={"count": 0, "log": []}), ["LATER", {"advance": 50}, {"advance": 60}, "LATER", {"advance": 50},
                                      "CANCEL", {"advance": 100}], actors={"child": COUNTER_CHILD})
ported(OWN + "delayed send_to self: a timer of the machine, cancelled when it ends", machine({
    "a": {"on": {"GO": {"actions": ["sendSelfDelayed:TICK:100:t", "sendSelfDelayed:END:short"]},
                 "TICK": {"actions": "inc"}, "END": "b", "X": {"actions": "cancel:t"}}},
    "b": {"on": {"TICK": {"actions": "inc"}, "FIN": "z"}},
    "z": {"type": "final"},
}), ["GO", {"advance": 60}, {"advance": 60}, "GO", "X", {"advance": 200}, "GO", "FIN", {"advance": 200}])

SYSTEM = "system.test.ts > system > "
ported(SYSTEM + "should be accessible in sendTo actions", machine({
    "a": {"entry": "sendSystem:test:FOO"},
}, invoke={"src": "child", "systemId": "test", "id": "t"}), [], actors={"child": COUNTER_CHILD})
ported(OWN + "system registry: a spawned child by its systemId, from a sibling; gone once stopped", machine({
    "a": {"entry": ["spawnSystem:child:c1:receiver", "spawn:sender:c2"],
          "on": {"POKE": {"actions": "sendTo:c2:POKE"}, "STOP": {"actions": "stopChild:c1"},
                 "FOO": {"actions": "push:foo-at-parent"}}},
}, context={"count": 0, "log": []}), ["POKE", "STOP", "POKE"], actors={
    "child": COUNTER_CHILD,
    "sender": child({"s": {"on": {"POKE": {"actions": ["inc", "sendSystem:receiver:FOO"]}}}}, context={"count": 0}),
})

ENQ = "actions.test.ts > enqueueActions > "
ported(ENQ + "should provide self (enqueue.send_to(self, ...))", machine({
    "a": {"entry": {"enqueue": [{"sendSelf": "EV"}, "inc"]}, "on": {"EV": {"actions": ["peek", "inc"]}}},
}), [])

ported(SPAWN + "should accept `syncSnapshot` option", machine({
    "idle": {"entry": "spawnSync:child:int",
             "on": {"xstate.snapshot.int": [{"target": "success", "guard": "gt:4"}, {"actions": "inc"}],
                    "PING": {"actions": "sendTo:int:PING"}, "PONG": {"actions": "push:pong"}}},
    "success": {"type": "final"},
}, context={"count": 0, "log": []}), ["PING", "PING", "PING", "PING", "PING"], actors={"child": COUNTER_CHILD})
ported(OWN + "invoke with onSnapshot: the parent hears each of the child's snapshots", machine({
    "a": {"invoke": {"src": "child", "id": "c", "onSnapshot": {"actions": "inc"}},
          "on": {"PING": {"actions": "sendTo:c:PING"}, "PONG": {"actions": "push:pong"}}},
}, context={"count": 0, "log": []}), ["PING", "PING"], actors={"child": COUNTER_CHILD})
