"""Config keys of XState v4 that v5 renamed or removed, and the errors that name the replacement."""

from __future__ import annotations

from collections.abc import Iterable

STATE = {
    "activities": "use 'invoke' (an invoked service runs while the state is active)",
    "data": "use 'output' on the final state",
    "predictableActionArguments": "remove it: v5 always runs actions in order with the right arguments",
    "preserveActionOrder": "remove it: v5 always runs actions in order",
    "schema": "use 'types' (or drop it: statesync ignores types)",
    "tsTypes": "remove it: v5 has no typegen ('types' gives the types)",
    "strict": "remove it",
}
TRANSITION = {
    "cond": "use 'guard'",
    "internal": "use 'reenter' (v4 'internal: false' is v5 'reenter: true'; v5 transitions are internal by default)",
    "in": "use 'guard': state_in(...) / {'type': 'xstate.stateIn', 'stateValue': ...}",
}
INVOKE = {
    "data": "use 'input'",
    "autoForward": "remove it: pass events on with a send_to action",
}


def unknown_keys_message(where: str, unknown: Iterable[str], renamed: dict[str, str]) -> str:
    """`where: unknown key(s) [...]`, with the v5 replacement of every XState v4 key."""
    keys = sorted(unknown)
    hints = [f"{key!r} is XState v4: {renamed[key]}" for key in keys if key in renamed]
    message = f"{where}: unknown key(s) {keys}"
    return f"{message} ({'; '.join(hints)})" if hints else message
