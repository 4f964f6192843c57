"""What a reader is sent of a cached instance's state: its public state (projected through
`privacy`), as an update's JSON text, and whether the reader's token still holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..protocol import PublicState, Update
from ..store import LogRow
from . import privacy
from .history import Step, public_context_of
from .slots import Slot


def public_state(slot: Slot, snapshot: Any, seq: int,
                 reader: Mapping[str, Any] | None = None) -> PublicState:
    """What `reader` sees of the instance; without a reader (the log's stored copy and the
    updates' template), a context that depends on the reader is left out."""
    if reader is None and slot.spec.context_takes_reader:
        context = None
    else:
        context = privacy.public_context(slot.spec, snapshot.context, reader or privacy.NO_READER)
    status = snapshot.status
    return PublicState.model_construct(  # built here from trusted values: no validation
        machine=slot.machine,
        instance=slot.instance,
        seq=seq,
        value=snapshot.value,
        tags=sorted(snapshot.tags),
        context=context,
        status=status,
        done=status == "done",
    )


def logged_state(slot: Slot, row: LogRow) -> PublicState:
    """The public state a log row recorded (what subscribers were sent at its commit)."""
    return PublicState.model_construct(
        machine=slot.machine, instance=slot.instance, seq=row.seq, value=row.value,
        tags=row.tags, context=row.public, status=row.status, done=row.status == "done")


def update_json(state: PublicState) -> str:
    return Update.model_construct(**dict(state)).model_dump_json()


def update_text(slot: Slot, step: Step, reader: Mapping[str, Any]) -> str:
    row = step.row
    return Update.model_construct(
        machine=slot.machine, instance=slot.instance, seq=row.seq, value=row.value,
        tags=row.tags, context=public_context_of(step, reader), status=row.status,
        done=row.status == "done",
    ).model_dump_json()


def expired(claims: Mapping[str, Any], now: float) -> bool:
    """Whether a token's `exp` has passed (one that is not a number counts as expired)."""
    exp = claims.get("exp", now)
    return isinstance(exp, bool) or not isinstance(exp, int | float) or exp < now
