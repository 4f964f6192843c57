"""What the admin routes read (docs/inspector.md): instances, full snapshots, the event log,
timers, the outbox and failures, straight from the store, for operators only.

Nothing here authorizes: `admin_http` checks the admin credential before calling any of it.
Every value is the full, private data (contexts, events as sent, effect payloads).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic_core import from_json
from sqlalchemy import and_, or_, select
from statesync.snapshot import matches_state

from ..chart import chart_graph
from ..errors import ErrorCode, StatesyncError
from ..engine.history import snapshot_at
from ..store.schema import events, instances, outbox, timers
from ..engine.versions import all_specs, query_names

ATTENTION_TAGS = ("needs-attention", "stuck", "error")
"""Tags of states an instance should not stay in unnoticed (shown among the failures)."""
LATE_AFTER = 5.0
"""Seconds past its due time after which a pending timer or effect counts as late."""
OUTBOX_EFFECTS = ("effect", "service")
OUTBOX_MESSAGES = ("message", "create", "child")  # child: a child instance (children.py)


def leaf_paths(value: Any, prefix: str = "") -> list[str]:
    """The dotted paths of the active atomic states of a state value (`{"a": "b"}` -> `a.b`)."""
    if isinstance(value, str):
        return [prefix + value]
    if isinstance(value, dict):
        return [p for key, child in value.items() for p in leaf_paths(child, f"{prefix}{key}.")]
    return []


def state_paths(value: Any) -> list[str]:
    """Every active state as a dotted path, compound ones included (`a`, `a.b`)."""
    return sorted({leaf[:i] for leaf in leaf_paths(value) for i in _cuts(leaf)})


def _cuts(path: str) -> list[int]:
    return [i for i, c in enumerate(path) if c == "."] + [len(path)]


def machines(app: Any, counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """Every registered machine and version with its definition and instance counts."""
    listed: dict[str, dict[str, Any]] = {}
    for spec in all_specs(app):
        entry = listed.setdefault(spec.name, {
            "name": spec.name, "current_version": app.machines[spec.name].version,
            "versions": [], "instances": 0})
        count = counts.get((spec.name, spec.version), 0)
        entry["instances"] += count
        entry["versions"].append({
            "version": spec.version, "current": spec is app.machines[spec.name],
            "instances": count, "indexes": dict(spec.indexes or {}),
            "effects": sorted(spec.effects or {}), "services": sorted(spec.services or {}),
            "events": sorted(spec.events) if spec.events is not None else None,
            "config": spec.machine.to_config(), "chart": chart_graph(spec.machine)})
    return list(listed.values())


def _instance_item(row: Any, now: float) -> dict[str, Any]:
    snapshot = from_json(row.snapshot)
    return {"instance": row.name, "version": row.version, "seq": row.seq,
            "status": row.status, "value": snapshot.get("value"),
            "states": leaf_paths(snapshot.get("value")), "error": snapshot.get("error"),
            "created_at": row.created_at, "updated_at": row.updated_at,
            "idle_seconds": round(now - row.updated_at, 3)}


async def search_instances(app: Any, store: Any, machine: str, *, prefix: str = "",
                           state: str | None = None, status: str | None = None,
                           where: dict[str, Any] | None = None, after: str = "",
                           limit: int = 100, now: float) -> dict[str, Any]:
    """Instances of `machine` by name prefix, active state (`a.b`: in `a.b` or under it),
    status and index query `where` `{index, op, value}`, sorted by name: one page of
    `limit` after the name `after`, with counts per state, status and version over every
    instance that matches."""
    app.spec(machine)
    names = set(await query_names(app, store, machine, where)) if where is not None else None
    query = (select(instances.c.name, instances.c.version, instances.c.seq, instances.c.status,
                    instances.c.snapshot, instances.c.created_at, instances.c.updated_at)
             .where(instances.c.machine == machine).order_by(instances.c.name))
    if prefix:
        query = query.where(instances.c.name.startswith(prefix, autoescape=True))
    if status:
        query = query.where(instances.c.status == status)
    items: list[dict[str, Any]] = []
    by_state: Counter[str] = Counter()
    by_version: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    total = 0
    async with store.engine.connect() as conn:
        for row in await conn.execute(query):
            if names is not None and row.name not in names:
                continue
            value = from_json(row.snapshot).get("value")
            if state and not _in_state(state, value):
                continue
            total += 1
            by_state.update(state_paths(value))
            by_version[row.version] += 1
            by_status[row.status] += 1
            if row.name > after and len(items) < limit:
                items.append(_instance_item(row, now))
    last = items[-1]["instance"] if len(items) == limit else None
    return {"machine": machine, "total": total, "items": items, "next": last,
            "counts": {"state": dict(sorted(by_state.items())),
                       "version": dict(sorted(by_version.items())),
                       "status": dict(sorted(by_status.items()))}}


def _in_state(path: str, value: Any) -> bool:
    try:
        return matches_state(path, value)
    except (TypeError, ValueError, AttributeError):
        return False


async def instance_row(store: Any, machine: str, instance: str, now: float) -> dict[str, Any]:
    """The instance's current row with its full snapshot, or `not-found`."""
    query = select(instances).where(instances.c.machine == machine, instances.c.name == instance)
    async with store.engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {instance!r} of {machine!r}")
    return {**_instance_item(row, now), "machine": machine,
            "snapshot": from_json(row.snapshot)}


def _full(snapshot: Any) -> dict[str, Any]:
    return {**snapshot.to_dict(), "tags": sorted(snapshot.tags)}


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The changes from `before` to `after` as `{path, op: add|remove|replace, before, after}`
    (dict keys are walked into; lists and scalars compare whole)."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[dict[str, Any]] = []
        for key in [*before, *(k for k in after if k not in before)]:
            where = f"{path}.{key}" if path else str(key)
            if key not in after:
                changes.append({"path": where, "op": "remove", "before": before[key],
                                "after": None})
            elif key not in before:
                changes.append({"path": where, "op": "add", "before": None, "after": after[key]})
            else:
                changes.extend(diff(before[key], after[key], where))
        return changes
    if before == after:
        return []
    return [{"path": path, "op": "replace", "before": before, "after": after}]


async def full_snapshot_at(app: Any, store: Any, machine: str, instance: str,
                           seq: int) -> dict[str, Any]:
    """The full snapshot right after seq `seq` (the same replay as the history API), the
    logged step that produced it and the diff from the snapshot at `seq - 1`."""
    past = await snapshot_at(app, store, machine, instance, seq)
    rows = await store.log(machine, instance, seq - 1, 1)
    row = rows[0]
    snapshot = _full(past.snapshot)
    previous = None
    if seq > 0:
        previous = _full((await snapshot_at(app, store, machine, instance, seq - 1)).snapshot)
    return {"machine": machine, "instance": instance, "seq": seq, "version": past.version,
            "snapshot": snapshot, "event": row.event, "event_id": row.event_id,
            "origin": row.origin, "subject": row.subject, "at": row.at,
            "diff": diff(previous, snapshot) if previous is not None else None}


async def event_log(store: Any, machine: str, instance: str, since: int,
                    limit: int) -> dict[str, Any]:
    """Log entries after `since`: who (origin, subject), when, the event as sent, and the
    resulting state."""
    rows = await store.log(machine, instance, since, limit + 1)
    entries = [{"seq": r.seq, "at": r.at, "origin": r.origin, "subject": r.subject,
                "event": r.event, "event_id": r.event_id, "value": r.value,
                "states": leaf_paths(r.value), "tags": r.tags, "status": r.status}
               for r in rows[:limit]]
    return {"machine": machine, "instance": instance, "entries": entries,
            "next": entries[-1]["seq"] if len(rows) > limit else None}


def _timer(row: Any, now: float) -> dict[str, Any]:
    late = now - row.due
    return {"machine": row.machine, "instance": row.instance, "timer_id": row.timer_id,
            "seq": row.seq, "event": from_json(row.event), "due": row.due,
            "created_at": row.created_at, "due_in": round(row.due - now, 3),
            "late": late > LATE_AFTER, "owner": row.owner}


def work_item(row: Any, now: float) -> dict[str, Any]:
    pending = row.status == "pending"
    return {"machine": row.machine, "instance": row.instance, "seq": row.seq, "idx": row.idx,
            "key": f"{row.machine}/{row.instance}/{row.seq}/{row.idx}", "kind": row.kind,
            "name": row.name, "target": row.target, "payload": from_json(row.payload),
            "status": row.status, "attempts": row.attempts, "error": row.error,
            "next_retry": row.next_at if pending and row.attempts > 0 else None,
            "next_at": row.next_at if pending else None,
            "late": pending and now - row.next_at > LATE_AFTER,
            "created_at": row.created_at, "updated_at": row.updated_at, "owner": row.owner}


async def _rows(store: Any, query: Any) -> list[Any]:
    async with store.engine.connect() as conn:
        return list(await conn.execute(query))


async def instance_timers(store: Any, machine: str, instance: str,
                          now: float) -> list[dict[str, Any]]:
    """The instance's pending timers, soonest first."""
    query = (select(timers).where(timers.c.machine == machine, timers.c.instance == instance)
             .order_by(timers.c.due))
    return [_timer(r, now) for r in await _rows(store, query)]


async def instance_outbox(store: Any, machine: str, instance: str, kinds: Iterable[str],
                          now: float) -> list[dict[str, Any]]:
    """The instance's outbox rows of `kinds` (effects, services or messages), newest first."""
    query = (select(outbox).where(outbox.c.machine == machine, outbox.c.instance == instance,
                                  outbox.c.kind.in_(list(kinds)))
             .order_by(outbox.c.seq.desc(), outbox.c.idx.desc()))
    return [work_item(r, now) for r in await _rows(store, query)]


async def instance_messages(store: Any, machine: str, instance: str,
                            now: float) -> dict[str, Any]:
    """Messages (and creations) the instance sent, and those sent to it by other instances."""
    incoming = (select(outbox)
                .where(outbox.c.name == machine, outbox.c.target == instance,
                       outbox.c.kind.in_(OUTBOX_MESSAGES))
                .order_by(outbox.c.created_at.desc()))
    return {"out": await instance_outbox(store, machine, instance, OUTBOX_MESSAGES, now),
            "in": [work_item(r, now) for r in await _rows(store, incoming)]}


async def failures(store: Any, now: float, limit: int = 200) -> dict[str, Any]:
    """What needs an operator: failed effects, services and messages and those retrying
    after an error; work and timers late by more than `LATE_AFTER` s; instances in `error`
    status or in a state tagged one of `ATTENTION_TAGS` (e.g. a workflow's `stuck` state)."""
    failed = (select(outbox)
              .where(or_(outbox.c.status == "failed",
                         and_(outbox.c.status == "pending", outbox.c.error.is_not(None))))
              .order_by(outbox.c.updated_at.desc()).limit(limit))
    late_work = (select(outbox)
                 .where(outbox.c.status == "pending", outbox.c.error.is_(None),
                        outbox.c.next_at < now - LATE_AFTER)
                 .order_by(outbox.c.next_at).limit(limit))
    late_timers = (select(timers).where(timers.c.due < now - LATE_AFTER)
                   .order_by(timers.c.due).limit(limit))
    tagged = or_(*(events.c.tags.contains(f'"{tag}"', autoescape=True) for tag in ATTENTION_TAGS))
    errored = (select(instances, events.c.tags)
               .join(events, and_(events.c.machine == instances.c.machine,
                                  events.c.instance == instances.c.name,
                                  events.c.seq == instances.c.seq))
               .where(or_(instances.c.status == "error", tagged))
               .order_by(instances.c.updated_at.desc()).limit(limit))
    return {
        "effects": [work_item(r, now) for r in await _rows(store, failed)],
        "late_work": [work_item(r, now) for r in await _rows(store, late_work)],
        "late_timers": [_timer(r, now) for r in await _rows(store, late_timers)],
        "instances": [{**_instance_item(r, now), "machine": r.machine, "tags": from_json(r.tags)}
                      for r in await _rows(store, errored)],
    }
