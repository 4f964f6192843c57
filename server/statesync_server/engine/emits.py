"""What a machine tells the world besides its state: emitted events and log lines.

`emit(...)` and `log(...)` come back from the core as `xstate.emit` / `xstate.log` actions. They
are not effects: nothing is written to the outbox. Emitted events are kept in their
transition's log row (`stored`), so a cluster process that catches its subscribers up from the
log sends them too. After the transition commits,
an emitted event goes to the instance's subscribers, each getting what it may see of it
(`privacy.public_event`, as for a logged event: its type plus the fields `public_event` opts
in, all of it with a history grant); a log line goes to the `statesync.machine` logger with the
instance's identity. A transition that is not committed delivers nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic_core import to_json

from statesync.actions import Action
from statesync.notify import EMIT, LOG

from . import privacy
from ..app import MachineSpec
from ..protocol import Emitted

machine_log = logging.getLogger("statesync.machine")
KINDS = frozenset({EMIT, LOG})
MAX_LOG_VALUE = 2000
"""Characters of a logged value's JSON kept in a line (a value may be client data)."""


def split(actions: list[Action]) -> tuple[list[Action], list[Action]]:
    """`(to plan, emitted and logged)`: the second are delivered after the commit only."""
    if not any(action.type in KINDS for action in actions):
        return actions, []
    return ([a for a in actions if a.type not in KINDS], [a for a in actions if a.type in KINDS])


def by_seq(notices: Iterable[tuple[int, Action]]) -> dict[int, list[Action]]:
    grouped: dict[int, list[Action]] = {}
    for seq, action in notices:
        grouped.setdefault(seq, []).append(action)
    return grouped


def stored(notices: list[Action]) -> list[Any] | None:
    """The events `notices` emit, as kept in their transition's log row (None for none): what
    a process catching its subscribers up from the log sends them. One that is not JSON is
    left out (it reaches no subscriber anywhere; `broadcast.emit` says so)."""
    kept = []
    for action in notices:
        if action.type == EMIT:
            try:
                to_json(action.params["event"])
            except Exception:  # noqa: BLE001, S112 - an application bug, reported on delivery
                continue
            kept.append(action.params["event"])
    return kept or None


def emitted_json(spec: MachineSpec, instance: str, seq: int, event: Mapping[str, Any],
                 reader: Mapping[str, Any], snapshot: Any) -> str:
    """The `emitted` message for `reader` (who may read the instance: checked by the caller)."""
    full = privacy.may_read_history(spec, reader, instance, snapshot)
    shown = privacy.public_event(spec, event, reader, full=full)
    return Emitted.model_construct(machine=spec.name, instance=instance, seq=seq, event=shown).model_dump_json()


def write_log(machine: str, instance: str, seq: int, params: Mapping[str, Any]) -> None:
    """One `statesync.machine` INFO line for a `log(...)` action."""
    if not machine_log.isEnabledFor(logging.INFO):
        return
    label = params.get("label")
    fields = {"machine": machine, "instance": instance, "seq": seq,
              "label": None if label is None else str(label)[:200], "value": _loggable(params.get("value"))}
    machine_log.info("machine log %s/%s seq=%d %s%s", machine, instance, seq,
                     "" if label is None else f"{fields['label']}: ", json.dumps(fields["value"], default=str),
                     extra={**fields, "what": "machine log", "fields": fields})


def _loggable(value: Any) -> Any:
    """`value` if its JSON is short enough, else its JSON clipped (a string)."""
    text = json.dumps(value, default=str)
    if len(text) <= MAX_LOG_VALUE:
        return json.loads(text)
    return text[:MAX_LOG_VALUE] + "..."
