"""Event history: an instance's snapshot as of any seq (time travel for debugging and audit).

Every log row keeps the public state it produced (what subscribers were sent). The full
snapshot (private context, history, children) is kept as a checkpoint at the creation, at
every upgrade and every `CHECKPOINT_EVERY` transitions; the snapshot as of seq N is the
nearest checkpoint at or before N with the logged events after it replayed through that
version's machine (transitions are pure, so the replay is exact; each replayed step is
checked against the state value the log recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json
from sqlalchemy import select

from .app import Access
from .errors import ErrorCode, StatesyncError
from .store.schema import checkpoints

CHECKPOINT_EVERY = 100


@dataclass(frozen=True, slots=True)
class HistoricState:
    seq: int
    version: str
    snapshot: Any  # statesync.Snapshot of that version's machine
    event: dict[str, Any]
    at: float


async def snapshot_at(app: Any, store: Any, machine: str, instance: str, seq: int) -> HistoricState:
    """The instance's full snapshot right after the transition numbered `seq`."""
    query = (
        select(checkpoints.c.seq, checkpoints.c.version, checkpoints.c.snapshot)
        .where(checkpoints.c.machine == machine, checkpoints.c.instance == instance,
               checkpoints.c.seq <= seq)
        .order_by(checkpoints.c.seq.desc())
        .limit(1)
    )
    async with store.engine.connect() as conn:
        base = (await conn.execute(query)).first()
    if base is None:
        raise StatesyncError(ErrorCode.NOT_FOUND,
                             f"no history of {instance!r} at seq {seq} (kept from creation on)")
    spec = app.version_spec(machine, base.version)
    snapshot = spec.machine.restore(from_json(base.snapshot))
    rows = await store.log(machine, instance, base.seq - 1, seq - base.seq + 1)
    if not rows or rows[-1].seq != seq:
        raise StatesyncError(ErrorCode.NOT_FOUND, f"{instance!r} has no seq {seq}")
    for row in rows[1:]:
        snapshot, _actions = spec.machine.transition(snapshot, row.event)
        if snapshot.value != row.value:
            raise StatesyncError(
                ErrorCode.INTERNAL,
                f"replaying {instance!r} seq {row.seq} gave {snapshot.value!r}, the log says "
                f"{row.value!r} (a machine implementation changed under the same version?)",
            )
    last = rows[-1]
    return HistoricState(seq, base.version, snapshot, last.event, last.at)


async def public_state_at(engine: Any, claims: Mapping[str, Any], machine: str, instance: str,
                          seq: int) -> dict[str, Any]:
    """The public state as of `seq`, for a caller allowed to read the instance now AND as it
    was then."""
    from .engine import Op

    await engine.run(Op("get", machine, instance, claims))  # allowed to read it now
    past = await snapshot_at(engine.app, engine.store, machine, instance, seq)
    spec = engine.app.version_spec(machine, past.version)
    snapshot = past.snapshot
    access = Access(claims, machine, instance, snapshot.value, snapshot.context)
    if not spec.allow_read(access):
        raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to read {instance!r} at seq {seq}")
    status = snapshot.status
    return {
        "machine": machine, "instance": instance, "seq": seq, "version": past.version,
        "value": snapshot.value, "tags": sorted(snapshot.tags),
        "context": spec.public_context(snapshot.context), "status": status,
        "done": status == "done", "event": past.event, "at": past.at,
    }
