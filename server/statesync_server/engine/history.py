"""Event history: an instance's snapshot as of any seq, and what a reader may see of its past.

Every log row keeps the public state it produced (what subscribers were sent). The full
snapshot (private context, history, children) is kept as a checkpoint at the creation, at
every upgrade and every `CHECKPOINT_EVERY` transitions; the snapshot as of seq N is the
nearest checkpoint at or before N with the logged events after it replayed through that
version's machine (transitions are pure, so the replay is exact; each replayed step is
checked against the state value the log recorded).

The past follows one rule (docs/security.md): a reader sees the state at seq N when it may
read the instance now and may read it as it was at N. The event log, `at/{seq}` and the
replay of `subscribe` with `since` all go through `readable_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic_core import from_json
from statesync import Sender
from sqlalchemy import select

from . import privacy
from ..app import MachineSpec
from ..errors import ErrorCode, StatesyncError
from ..limits import MAX_SEQ
from ..store import LogRow
from ..store.schema import checkpoints

CHECKPOINT_EVERY = 100


@dataclass(frozen=True, slots=True)
class Step:
    """One logged transition and the full snapshot right after it (None when not replayed)."""

    row: LogRow
    spec: MachineSpec
    snapshot: Any


@dataclass(frozen=True, slots=True)
class HistoricState:
    seq: int
    version: str
    snapshot: Any  # statesync.Snapshot of that version's machine
    event: dict[str, Any]
    at: float
    sender: Sender


def logged_sender(row: LogRow) -> Sender:
    """The `Sender` of a logged event as far as the log tells it: the subject and origin (a
    client's other claims are not kept; a machine that reads the sender is checkpointed at
    every transition instead, so its replay never depends on them)."""
    if row.origin == "client":
        return Sender(row.subject, MappingProxyType({"sub": row.subject}), None, "client")
    if row.origin == "instance" and row.subject and "/" in row.subject:
        machine, instance = row.subject.split("/", 1)
        return Sender(instance=(machine, instance), origin="instance")
    return Sender(origin=row.origin)


async def replay(app: Any, store: Any, machine: str, instance: str, since: int,
                 limit: int) -> list[Step]:
    """The log rows after `since` (at most `limit`), each with the full snapshot after it."""
    if since >= MAX_SEQ:  # no seq comes after it (nor fits the seq columns)
        return []
    first, last = max(since + 1, 0), min(since + limit, MAX_SEQ)
    query = (
        select(checkpoints.c.seq, checkpoints.c.version, checkpoints.c.snapshot)
        .where(checkpoints.c.machine == machine, checkpoints.c.instance == instance,
               checkpoints.c.seq <= first)
        .order_by(checkpoints.c.seq.desc())
        .limit(1)
    )
    async with store.engine.connect() as conn:
        base = (await conn.execute(query)).first()
        if base is None:
            return []
        later = (await conn.execute(
            select(checkpoints.c.seq, checkpoints.c.version, checkpoints.c.snapshot)
            .where(checkpoints.c.machine == machine, checkpoints.c.instance == instance,
                   checkpoints.c.seq > base.seq, checkpoints.c.seq <= last)
        )).all()
    kept = {base.seq: base, **{c.seq: c for c in later}}
    rows = await store.log(machine, instance, base.seq - 1, last - base.seq + 1)
    steps: list[Step] = []
    spec = snapshot = None
    for row in rows:
        checkpoint = kept.get(row.seq)
        if checkpoint is not None:  # creation, an upgrade, or every CHECKPOINT_EVERY
            spec = app.version_spec(machine, checkpoint.version)
            snapshot = spec.machine.restore(from_json(checkpoint.snapshot))
        elif spec is not None:
            snapshot, _actions = spec.machine.transition(snapshot, row.event, logged_sender(row))
        if spec is None:
            break  # the log does not start at a checkpoint: nothing to replay from
        if snapshot.value != row.value:
            raise StatesyncError(
                ErrorCode.INTERNAL,
                f"replaying {instance!r} seq {row.seq} did not give the logged state (a machine "
                "implementation changed under the same version?)",
            )
        if row.seq >= first:
            steps.append(Step(row, spec, snapshot))
    return steps


async def snapshot_at(app: Any, store: Any, machine: str, instance: str, seq: int) -> HistoricState:
    """The instance's full snapshot right after the transition numbered `seq`."""
    steps = await replay(app, store, machine, instance, seq - 1, 1)
    if not steps or steps[0].row.seq != seq:
        raise StatesyncError(ErrorCode.NOT_FOUND, f"{instance!r} has no seq {seq}")
    step = steps[0]
    return HistoricState(seq, step.spec.version, step.snapshot, step.row.event, step.row.at,
                         logged_sender(step.row))


def needs_replay(app: Any, machine: str) -> bool:
    """Whether what a reader sees of a past seq needs the full snapshot at that seq: reads
    that depend on the state, or a projection that depends on the reader (any version)."""
    specs = [app.spec(machine), *app.versions.get(machine, {}).values()]
    return any(privacy.checks_reads(s) or s.context_takes_reader for s in specs)


async def readable_steps(app: Any, store: Any, reader: Mapping[str, Any], machine: str,
                         instance: str, since: int, limit: int) -> tuple[list[Step], int]:
    """The steps after `since` (at most `limit` scanned) that `reader` could read at their
    seq, and the last seq scanned (`since` when there was nothing)."""
    if not needs_replay(app, machine):
        spec = app.spec(machine)
        rows = await store.log(machine, instance, since, limit)
        return [Step(r, spec, None) for r in rows], rows[-1].seq if rows else since
    steps = await replay(app, store, machine, instance, since, limit)
    scanned = steps[-1].row.seq if steps else since
    return [s for s in steps if privacy.may_read(s.spec, reader, instance, s.snapshot)], scanned


def public_context_of(step: Step, reader: Mapping[str, Any]) -> Any:
    """The public context after a step, as `reader` sees it."""
    if step.snapshot is None:
        return step.row.public  # stored at commit: the projection does not depend on the reader
    return privacy.public_context(step.spec, step.snapshot.context, reader)


def log_entry(step: Step, reader: Mapping[str, Any], full: bool) -> dict[str, Any]:
    """One event-log entry for `reader` (`full`: granted events as they were sent)."""
    row = step.row
    return {
        "seq": row.seq,
        "event": privacy.public_event(step.spec, row.event, reader, full, logged_sender(row)),
        "value": row.value, "tags": row.tags, "context": public_context_of(step, reader),
        "status": row.status, "done": row.status == "done", "at": row.at, "origin": row.origin,
        "subject": None if row.origin in ("client", "admin") else row.subject,
    }


async def event_log(engine: Any, claims: Mapping[str, Any], machine: str, instance: str,
                    since: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """The log entries after `since` that the caller may see (at most `limit` scanned), and
    the seq to ask from for the next page (None: the log ends there)."""
    grant = await engine.grant(claims, machine, instance)  # allowed to read it now
    steps, scanned = await readable_steps(engine.app, engine.store, claims, machine, instance,
                                          since, limit)
    entries = [log_entry(step, claims, grant.history) for step in steps]
    more = scanned < grant.state.seq and scanned > since
    return entries, scanned if more else None


async def public_state_at(engine: Any, claims: Mapping[str, Any], machine: str, instance: str,
                          seq: int) -> dict[str, Any]:
    """The public state as of `seq`, for a caller allowed to read the instance now AND as it
    was then."""
    grant = await engine.grant(claims, machine, instance)  # allowed to read it now
    past = await snapshot_at(engine.app, engine.store, machine, instance, seq)
    spec = engine.app.version_spec(machine, past.version)
    snapshot = past.snapshot
    if not privacy.may_read(spec, claims, instance, snapshot):
        raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to read {instance!r} at seq {seq}")
    status = snapshot.status
    return {
        "machine": machine, "instance": instance, "seq": seq, "version": past.version,
        "value": snapshot.value, "tags": sorted(snapshot.tags),
        "context": privacy.public_context(spec, snapshot.context, claims), "status": status,
        "done": status == "done",
        "event": privacy.public_event(spec, past.event, claims, grant.history, past.sender),
        "at": past.at,
    }
