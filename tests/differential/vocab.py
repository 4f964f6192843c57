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

Guards (``"name"``, ``{"type": "name", "params": {...}}`` or a composite object):
``even`` / ``odd`` (on ``count``), ``flag`` (``event.flag`` truthy), ``gt`` (params ``n``:
``count > n``), ``lt:<n>``, ``gt:<n>``, ``{"and": [...]}``, ``{"or": [...]}``, ``{"not": g}``,
``{"stateIn": "#id" | "a.b"}``.

Delays: numeric keys, plus the named delays ``short`` (50), ``long`` (200) and ``dyn``
(``count * 10 + 10``).

Config markers: ``"context": "$input"`` (context is a copy of the input) and
``"output": "$context"`` / ``"$event"`` on the root or on final states.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import statesync
from statesync import and_, assign, cancel, not_, or_, raise_, state_in

NAMED_DELAYS: dict[str, Any] = {
    "short": 50,
    "long": 200,
    "dyn": lambda ctx, ev, *rest: ((ctx or {}).get("count") or 0) * 10 + 10,
}

# Action names whose implementation is pure (not an effect): exact names and prefixes.
PURE_ACTIONS = {"inc", "dbl", "add", "setv", "outv", "outk", "fromInput"}
PURE_PREFIXES = ("push:", "raise:", "raiseDelayed:", "cancel:")


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
    return None


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


def _collect_actions(a: Any, names: _Names) -> None:
    for item in _as_list(a):
        names.actions.add(item if isinstance(item, str) else item["type"])


def _translate_transitions(t: Any, names: _Names) -> Any:
    def one(x: Any) -> Any:
        if isinstance(x, str):
            return x
        out = dict(x)
        if "guard" in out:
            out["guard"] = _translate_guard(out["guard"], names)
        _collect_actions(out.get("actions"), names)
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
    _collect_actions(out.get("entry"), names)
    _collect_actions(out.get("exit"), names)
    for key in ("on", "after"):
        if key in out:
            out[key] = {k: _translate_transitions(v, names) for k, v in out[key].items()}
    for key in ("always", "onDone"):
        if key in out:
            out[key] = _translate_transitions(out[key], names)
    if "output" in out:
        out["output"] = _translate_output(out["output"])
    if "states" in out:
        out["states"] = {k: _translate_node(v, names) for k, v in out["states"].items()}
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
            guards[name] = raw
            pending.append(raw if isinstance(raw, str) else raw["type"])
        else:
            guards[name] = guard_impl(name)
    return guards


def build_machine(raw_config: dict[str, Any], provided: dict[str, Any] | None = None) -> statesync.Machine:
    """A statesync ``Machine`` for a pure-JSON case config, with the vocabulary's implementations.

    ``provided`` is a case's ``implementations``: ``{"guards": {name: alias | guard object},
    "actions": {name: vocabulary name}, "delays": {name: ms}}``.
    """
    provided = provided or {}
    names = _Names()
    config = _translate_node(copy.deepcopy(raw_config), names)
    if config.get("context") == "$input":
        config["context"] = context_from_input()
    actions = {}
    for name in sorted(names.actions):
        impl = action_impl((provided.get("actions") or {}).get(name, name))
        if impl is not None:
            actions[name] = impl
    guards = guard_implementations(names.guards, provided.get("guards"))
    delays = {**NAMED_DELAYS, **(provided.get("delays") or {})}
    return statesync.Machine(config, actions=actions, guards=guards, delays=delays)
