"""The implementation vocabulary shared by both sides of the differential tests.

Differential cases carry *pure JSON* machine configs. Every action, guard and delay they name
is implemented here for statesync and, identically, in ``tests/js/xstate_runner.js`` for XState.
Keep the two in sync.

Actions (``"name"`` or ``{"type": "name", "params": {...}}``):

- ``inc``: ``count += 1``; ``dbl``: ``count = count * 2 % 10**6`` (modulo, so that counts stay
  exact JavaScript numbers: otherwise a ``2x+1`` loop settles in XState by float rounding);
  ``add`` (params ``n``): ``count += n``.
- ``setv`` / ``outv`` / ``fromInput``: ``v = event.value`` / ``v = event.output`` /
  ``inp = event.input`` (``null`` when absent; the ``xstate.init`` event carries the input);
  ``outk``: ``v = event.output``, ``"absent"`` when the event has no (JS: an undefined) output.
- ``push:<x>``: ``log = log + [x]``.
- ``raise:<EV>``: raise ``{"type": EV}`` on the internal queue;
  ``raiseDelayed:<EV>:<delay>[:<id>]``: raise it after a delay (ms or a named delay);
  ``cancel:<id>``: cancel that delayed raise.
- ``peek...``: an effect recorded as ``"<name>:<count>:<event type>"`` (what it saw).
- Any other name: an effect, recorded as its name.

- ``emit:<EV>``: emit ``{"type": EV}``; ``emitCount:<EV>``: emit ``{"type": EV, "count": count}``;
  ``emitParams``: emit the params; ``log:<label>``: log ``count`` with that label; ``logAll``:
  ``log()`` (context and event); ``enqAddTwice``: ``enqueue_actions`` queuing ``add`` twice with
  its own params.
- Child actors: ``sendParent:<EV>`` / ``sendParentCount:<EV>`` (with ``count``): ``send_parent``;
  ``sendTo:<id>:<EV>``: ``send_to(id, ...)``; ``forwardTo:<id>``; ``spawn:<src>:<id>``:
  ``spawn_child(src, id=id)``; ``stopChild:<id>``.
- Issue 22: ``spawnAt:<src>`` / ``sendToAt:<EV>`` / ``stopChildAt``: the child id computed from
  the context (``k<count>``); ``sendToDelayed:<id>:<EV>:<delay>[:<sendId>]``;
  ``sendSelf:<EV>`` (to ``self``, from a function) and ``sendSelfDelayed:<EV>:<delay>[:<sendId>]``;
  ``sendInternal:<EV>`` (XState's ``"#_internal"``); ``spawnSystem:<src>:<id>:<systemId>`` and
  ``sendSystem:<systemId>:<EV>`` (``system.get``); ``spawnSync:<src>:<id>`` (``sync_snapshot``);
  in programs ``{"sendSelf": EV}`` (``enqueue.send_to(self, ...)``).
- ``{"emit": {...}}``: emit that event; ``{"log": {"value": v, "label": l}}``: log ``v``.
- ``{"enqueue": [item, ...]}``: ``enqueue_actions`` running a small program; an item is an action
  (name or ``{"type", "params"}``, queued with ``enqueue``), ``{"if": guard, "then": [...],
  "else": [...]}`` (``check``), ``{"assign": {...}}``, ``{"raise": EV, "delay"?, "id"?}``,
  ``{"cancel": id}``, ``{"emit": {...}}``, ``{"log": label}`` (logs ``count``),
  ``{"repeat": [...]}`` (the items ``count`` times: computed actions) or a nested
  ``{"enqueue": [...]}``.

Guards (``"name"``, ``{"type": "name", "params": {...}}`` or a composite object):
``even`` / ``odd`` (on ``count``), ``flag`` (``event.flag`` truthy), ``gt`` (params ``n``:
``count > n``), ``lt:<n>``, ``gt:<n>``, ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": g}``,
``{"stateIn": "#id" | "a.b"}``.

Delays: numeric keys, plus the named delays ``short`` (50), ``long`` (200) and ``dyn``
(``count * 10 + 10``).

Case keys besides ``config``/``steps``/``input``: ``implementations`` (``{"guards": {name: alias
| guard object | composite}, "actions": {name: vocabulary name}, "delays": {name: ms}}``),
``"build": "setup"`` (``Machine.setup(...).create_machine``) and ``provide`` (same shape as
``implementations``, given with ``machine.provide``). Observations carry ``emitted``, ``logs``
(logger argument lists) and ``meta`` (``get_meta()``) only when not empty.

Config markers: ``"context": "$input"`` (context is a copy of the input) and
``"output": "$context"`` / ``"$event"`` on the root or on final states; an invoke's
``"input": "$context"`` (the context at the time).

``actors``: ``{src: case}``, child machines (a case with its own ``config``, ``implementations``,
``actors``) that ``invoke`` / ``spawn:`` start by ``src``. Observations then carry ``children``
(when not empty): ``{id: {value, context, status, output[, children]}}`` of the running children.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import statesync
from statesync import (
    and_,
    assign,
    cancel,
    emit,
    enqueue_actions,
    forward_to,
    log,
    not_,
    or_,
    raise_,
    send_parent,
    send_to,
    spawn_child,
    state_in,
    stop_child,
    system,
)
from statesync.refs import SELF

NAMED_DELAYS: dict[str, Any] = {
    "short": 50,
    "long": 200,
    "dyn": lambda ctx, ev, *rest: ((ctx or {}).get("count") or 0) * 10 + 10,
}

# Action names whose implementation is pure (not an effect): exact names and prefixes.
PURE_ACTIONS = {"inc", "dbl", "add", "setv", "outv", "outk", "fromInput", "emitParams", "logAll", "enqAddTwice",
                "stopChildAt"}
PURE_PREFIXES = ("push:", "raise:", "raiseDelayed:", "cancel:", "emit:", "emitCount:", "log:",
                 "sendParent:", "sendParentCount:", "sendTo:", "forwardTo:", "spawn:", "stopChild:",
                 "spawnAt:", "sendToAt:", "sendToDelayed:", "sendSelf:", "sendSelfDelayed:", "sendInternal:",
                 "spawnSystem:", "sendSystem:", "spawnSync:")


def is_effect(name: str) -> bool:
    """True when ``name`` is an effect in the vocabulary (returned by the core, not run by it)."""
    return name not in PURE_ACTIONS and not name.startswith(PURE_PREFIXES)


def _count(ctx: dict[str, Any] | None) -> int:
    return (ctx or {}).get("count") or 0


def action_impl(name: str) -> Any:
    """The statesync implementation of a pure vocabulary action (``None`` for an effect)."""
    if name == "inc":
        return assign(lambda ctx, ev, *rest: {"count": _count(ctx) + 1})
    if name == "dbl":
        return assign(lambda ctx, ev, *rest: {"count": _count(ctx) * 2 % 1_000_000})
    if name == "add":
        return assign(lambda ctx, ev, params: {"count": _count(ctx) + params["n"]})
    if name == "setv":
        return assign(lambda ctx, ev, *rest: {"v": ev.get("value")})
    if name == "outv":
        return assign(lambda ctx, ev, *rest: {"v": ev.get("output")})
    if name == "outk":
        return assign(lambda ctx, ev, *rest: {"v": ev.get("output", "absent")})
    if name == "fromInput":
        return assign(lambda ctx, ev, *rest: {"inp": ev.get("input")})
    if name.startswith("push:"):
        item = name[len("push:"):]
        return assign(lambda ctx, ev, *rest: {"log": [*((ctx or {}).get("log") or []), item]})
    if name.startswith("raise:"):
        return raise_({"type": name[len("raise:"):]})
    if name.startswith("raiseDelayed:"):
        parts = name.split(":")
        delay: Any = int(parts[2]) if parts[2].lstrip("-").isdigit() else parts[2]
        ident = parts[3] if len(parts) > 3 else None
        return raise_({"type": parts[1]}, delay=delay, id=ident)
    if name.startswith("cancel:"):
        return cancel(name[len("cancel:"):])
    if name.startswith("emit:"):
        return emit({"type": name[len("emit:"):]})
    if name.startswith("emitCount:"):
        emitted = name[len("emitCount:"):]
        return emit(lambda ctx, ev, *rest: {"type": emitted, "count": _count_or_none(ctx)})
    if name == "emitParams":
        return emit(lambda ctx, ev, params: dict(params))
    if name.startswith("log:"):
        return log(lambda ctx, ev, *rest: _count_or_none(ctx), name[len("log:"):])
    if name == "logAll":
        return log()
    if name.startswith("sendParent:"):
        return send_parent({"type": name[len("sendParent:"):]})
    if name.startswith("sendParentCount:"):
        sent = name[len("sendParentCount:"):]
        return send_parent(lambda ctx, ev, *rest: {"type": sent, "count": _count_or_none(ctx)})
    if name.startswith("sendTo:"):
        _, child, sent = name.split(":")
        return send_to(child, {"type": sent})
    if name.startswith("forwardTo:"):
        return forward_to(name[len("forwardTo:"):])
    if name.startswith("spawn:"):
        _, src, child = name.split(":")
        return spawn_child(src, id=child)
    if name.startswith("stopChild:"):
        return stop_child(name[len("stopChild:"):])
    if name.startswith(("spawnAt:", "sendToAt:")) or name == "stopChildAt":
        return _computed_id_action(name)
    if name.startswith(("sendToDelayed:", "sendSelfDelayed:")):
        parts = name.split(":")
        target = SELF if name.startswith("sendSelf") else parts.pop(1)
        sent, delay = parts[1], _delay(parts[2])
        return send_to(target, {"type": sent}, delay=delay, id=parts[3] if len(parts) > 3 else None)
    if name.startswith("sendSelf:"):
        return send_to(lambda ctx, ev, *rest: SELF, {"type": name[len("sendSelf:"):]})
    if name.startswith("sendInternal:"):
        return send_to("#_internal", {"type": name[len("sendInternal:"):]})
    if name.startswith("spawnSystem:"):
        _, src, child, system_id = name.split(":")
        return spawn_child(src, id=child, system_id=system_id)
    if name.startswith("sendSystem:"):
        _, system_id, sent = name.split(":")
        return send_to(lambda ctx, ev, *rest: system.get(system_id), {"type": sent})
    if name.startswith("spawnSync:"):
        _, src, child = name.split(":")
        return spawn_child(src, id=child, sync_snapshot=True)
    if name == "enqAddTwice":
        def add_twice(ctx: Any, ev: Any, enqueue: Any, check: Any, params: Any) -> None:
            enqueue({"type": "add", "params": params})
            enqueue({"type": "add", "params": params})

        return enqueue_actions(add_twice)
    return None


def _delay(text: str) -> Any:
    return int(text) if text.lstrip("-").isdigit() else text


def _count_id(ctx: Any, ev: Any, *rest: Any) -> str:
    return f"k{_count(ctx)}"


def _computed_id_action(name: str) -> Any:
    """``spawnAt:<src>`` / ``sendToAt:<EV>`` / ``stopChildAt``: the child id is ``k<count>``."""
    if name.startswith("spawnAt:"):
        return spawn_child(name[len("spawnAt:"):], id=_count_id)
    if name.startswith("sendToAt:"):
        return send_to(_count_id, {"type": name[len("sendToAt:"):]})
    return stop_child(_count_id)


def guard_impl(name: str) -> Callable[..., bool]:
    """The statesync implementation of a named vocabulary guard."""
    if name == "even":
        return lambda ctx, ev, *rest: _count(ctx) % 2 == 0
    if name == "odd":
        return lambda ctx, ev, *rest: _count(ctx) % 2 == 1
    if name == "flag":
        return lambda ctx, ev, *rest: bool(ev.get("flag"))
    if name == "gt":
        return lambda ctx, ev, params: _count(ctx) > params["n"]
    if name.startswith("lt:"):
        n = int(name[3:])
        return lambda ctx, ev, *rest: _count(ctx) < n
    if name.startswith("gt:"):
        n = int(name[3:])
        return lambda ctx, ev, *rest: _count(ctx) > n
    raise ValueError(f"unknown vocabulary guard: {name}")


def effect_record(name: str, action: Any) -> str:
    """How a returned effect action is recorded (``peek*`` effects show context and event)."""
    if name.startswith("peek"):
        ctx = action.context
        count = ctx.get("count") if isinstance(ctx, dict) else None
        event = action.event or {}
        return f"{name}:{_js_str(count)}:{event.get('type')}"
    return name


def _js_str(x: Any) -> str:
    """``String(x)`` as JavaScript would print the small values we record."""
    if x is None:
        return "null"
    if x is True:
        return "true"
    if x is False:
        return "false"
    return str(x)


class _Names:
    """Action and guard names found while translating a config."""

    def __init__(self) -> None:
        self.actions: set[str] = set()
        self.guards: set[str] = set()


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, list) else [x]


def _translate_guard(g: Any, names: _Names) -> Any:
    if isinstance(g, str):
        names.guards.add(g)
        return g
    if isinstance(g, dict):
        if "and" in g:
            return and_([_translate_guard(x, names) for x in g["and"]])
        if "or" in g:
            return or_([_translate_guard(x, names) for x in g["or"]])
        if "not" in g:
            return not_(_translate_guard(g["not"], names))
        if "stateIn" in g:
            return state_in(g["stateIn"])
        if "type" in g:
            names.guards.add(g["type"])
            return g
    raise ValueError(f"bad guard {g!r}")


# Action names the vocabulary's own implementations enqueue (their implementations are needed too).
ENQUEUES = {"enqAddTwice": ["add"]}


def _collect_actions(a: Any, names: _Names) -> None:
    for item in _as_list(a):
        if isinstance(item, dict) and "enqueue" in item:
            _collect_program(item["enqueue"], names)
            continue
        if isinstance(item, dict) and ("emit" in item or "log" in item):
            continue
        name = item if isinstance(item, str) else item["type"]
        names.actions.add(name)
        names.actions.update(ENQUEUES.get(name, []))


def _collect_program(items: list[Any], names: _Names) -> None:
    for item in items:
        if isinstance(item, str) or "type" in item:
            _collect_actions(item, names)
        elif "if" in item:
            _collect_program(item.get("then", []), names)
            _collect_program(item.get("else", []), names)
        elif "repeat" in item:
            _collect_program(item["repeat"], names)
        elif "enqueue" in item:
            _collect_program(item["enqueue"], names)


Program = Callable[..., None]


def _translate_program(items: list[Any], names: _Names) -> Program:
    """An ``{"enqueue": [...]}`` program as a function ``(context, event, enqueue, check, *, self)``
    (``self``: the machine itself, as XState's ``self``)."""
    steps: list[Program] = []
    for item in items:
        if isinstance(item, str) or "type" in item:
            steps.append(lambda c, e, q, check, me, item=item: q(item))
        elif "if" in item:
            guard = _translate_guard(item["if"], names)
            then = _translate_program(item.get("then", []), names)
            otherwise = _translate_program(item.get("else", []), names)
            steps.append(lambda c, e, q, check, me, g=guard, t=then, o=otherwise: (t if check(g) else o)(c, e, q, check, self=me))
        elif "assign" in item:
            steps.append(lambda c, e, q, check, me, v=item["assign"]: q.assign(dict(v)))
        elif "raise" in item:
            options = {k: item[k] for k in ("delay", "id") if k in item}
            steps.append(lambda c, e, q, check, me, t=item["raise"], o=options: q.raise_({"type": t}, **o))
        elif "cancel" in item:
            steps.append(lambda c, e, q, check, me, i=item["cancel"]: q.cancel(i))
        elif "sendSelf" in item:
            steps.append(lambda c, e, q, check, me, t=item["sendSelf"]: q.send_to(me, {"type": t}))
        elif "emit" in item:
            steps.append(lambda c, e, q, check, me, v=item["emit"]: q.emit(dict(v)))
        elif "log" in item:
            steps.append(lambda c, e, q, check, me, label=item["log"]: q.log(lambda ctx, ev: _count_or_none(ctx), label))
        elif "repeat" in item:
            body = _translate_program(item["repeat"], names)
            steps.append(lambda c, e, q, check, me, b=body: [b(c, e, q, check, self=me) for _ in range(_count(c))])
        elif "enqueue" in item:
            inner = _translate_actions({"enqueue": item["enqueue"]}, names)
            steps.append(lambda c, e, q, check, me, a=inner: q(a))
        else:
            raise ValueError(f"bad enqueue item {item!r}")

    def program(context: Any, event: Any, enqueue: Any, check: Any, *, self: Any) -> None:
        for step in steps:
            step(context, event, enqueue, check, self)

    return program


def _translate_actions(a: Any, names: _Names) -> Any:
    """A config's actions: ``{"enqueue": [...]}`` items become ``enqueue_actions``."""
    _collect_actions(a, names)

    def one(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        if "emit" in item:
            return emit(item["emit"])
        if "log" in item:
            spec = item["log"]
            return log(spec["value"], spec.get("label")) if "value" in spec else log(label=spec.get("label"))
        if "enqueue" in item:
            return enqueue_actions(_translate_program(item["enqueue"], names))
        return item

    return [one(x) for x in a] if isinstance(a, list) else one(a)


def _count_or_none(ctx: Any) -> Any:
    return (ctx or {}).get("count")


def _translate_transitions(t: Any, names: _Names) -> Any:
    def one(x: Any) -> Any:
        if isinstance(x, str):
            return x
        out = dict(x)
        if "guard" in out:
            out["guard"] = _translate_guard(out["guard"], names)
        if "actions" in out:
            out["actions"] = _translate_actions(out["actions"], names)
        return out

    return [one(x) for x in t] if isinstance(t, list) else one(t)


def _translate_output(o: Any) -> Any:
    if o == "$context":
        return lambda ctx, ev, *rest: ctx
    if o == "$event":
        return lambda ctx, ev, *rest: ev
    return o


def _translate_node(node: dict[str, Any], names: _Names) -> dict[str, Any]:
    out = dict(node)
    for key in ("entry", "exit"):
        if key in out:
            out[key] = _translate_actions(out[key], names)
    for key in ("on", "after"):
        if key in out:
            out[key] = {k: _translate_transitions(v, names) for k, v in out[key].items()}
    for key in ("always", "onDone"):
        if key in out:
            out[key] = _translate_transitions(out[key], names)
    if "output" in out:
        out["output"] = _translate_output(out["output"])
    if "invoke" in out:
        out["invoke"] = [_translate_invoke(i, names) for i in _as_list(out["invoke"])]
    if "states" in out:
        out["states"] = {k: _translate_node(v, names) for k, v in out["states"].items()}
    return out


def _translate_invoke(invoke: dict[str, Any], names: _Names) -> dict[str, Any]:
    out = dict(invoke)
    for key in ("onDone", "onError", "onSnapshot"):
        if key in out:
            out[key] = _translate_transitions(out[key], names)
    if out.get("input") == "$context":
        out["input"] = lambda ctx, ev, *rest: ctx
    return out


def context_from_input() -> Any:
    """statesync's form of XState's ``context: ({input}) => ({...input})``."""
    return lambda input, *rest: dict(input or {})


def guard_implementations(names: set[str], provided: dict[str, Any] | None) -> dict[str, Any]:
    """Vocabulary guards for ``names``; a name in ``provided`` keeps its raw value there (an
    alias ``"other"`` or a guard object ``{"type", "params"}``), and what that names is added."""
    guards: dict[str, Any] = {}
    pending = sorted(names)
    while pending:
        name = pending.pop()
        if name in guards:
            continue
        if provided and name in provided:
            raw = provided[name]
            if isinstance(raw, str) or "type" in raw:
                guards[name] = raw
                pending.append(raw if isinstance(raw, str) else raw["type"])
            else:  # a composite guard of the vocabulary ({"and": [...]}, {"not": ...}, ...)
                inner = _Names()
                guards[name] = _translate_guard(raw, inner)
                pending.extend(sorted(inner.guards))
        else:
            guards[name] = guard_impl(name)
    return guards


def _implementations(action_names: Any, guard_names: set[str], provided: dict[str, Any]) -> dict[str, Any]:
    actions = {}
    for name in sorted(action_names):
        impl = action_impl((provided.get("actions") or {}).get(name, name))
        if impl is not None:
            actions[name] = impl
    guards = guard_implementations(guard_names, provided.get("guards"))
    return {"actions": actions, "guards": guards, "delays": dict(provided.get("delays") or {})}


def build_machine(case: dict[str, Any]) -> statesync.Machine:
    """A statesync ``Machine`` for a case's pure-JSON config, with the vocabulary's implementations.

    A case's ``implementations`` (``{"guards": {name: alias | guard object}, "actions": {name:
    vocabulary name}, "delays": {name: ms}}``) add to or replace the vocabulary's;
    ``"build": "setup"`` builds with ``Machine.setup(...).create_machine(config)``; a
    ``provide`` of the same shape is then given with ``machine.provide(...)``.
    """
    names = _Names()
    config = _translate_node(copy.deepcopy(case["config"]), names)
    if config.get("context") == "$input":
        config["context"] = context_from_input()
    implementations = _implementations(names.actions, names.guards, case.get("implementations") or {})
    implementations["delays"] = {**NAMED_DELAYS, **implementations["delays"]}
    implementations["actors"] = {src: build_machine(child) for src, child in (case.get("actors") or {}).items()}
    if case.get("build") == "setup":
        machine = statesync.Machine.setup(**implementations).create_machine(config)
    else:
        machine = statesync.Machine(config, **implementations)
    provide = case.get("provide")
    if provide:
        machine = machine.provide(**_implementations(
            (provide.get("actions") or {}).keys(), set(provide.get("guards") or {}), provide))
    return machine
