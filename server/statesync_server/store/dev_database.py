"""Dev mode's answer to a changed machine (`statesync serve app.py --dev`).

In production the server refuses to start when a version label's config changed or instances
are stored at a version the app no longer registers (versions.py). In dev mode every edit of a
machine would do that, so instead each affected instance is either

- **kept** (upgraded in place to the current machine) when its stored state still exists in
  it, the trivial state map: same state paths, context kept as it is, a checkpoint written at
  its current seq so history reads from there on use the new machine; or
- **reset**: deleted with its log, checkpoints, timers, outbox rows and index entries, when its
  state no longer exists (a client creating it again starts afresh).

and the new config hash is recorded. Every decision is logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic_core import from_json
from sqlalchemy import delete, insert, select, update

from .schema import (
    checkpoints,
    events,
    index_entries,
    instances,
    machine_versions,
    outbox,
    timers,
)

log = logging.getLogger("statesync")


@dataclass(slots=True)
class DevChanges:
    """What dev mode found at start-up, per (machine, version) label."""

    changed: dict[tuple[str, str], str] = field(default_factory=dict)
    """A registered label whose config changed -> its new config hash."""
    orphaned: list[tuple[str, str]] = field(default_factory=list)
    """A label instances are stored at that the app no longer registers."""

    def __bool__(self) -> bool:
        return bool(self.changed or self.orphaned)


async def adopt(app: Any, store: Any, changes: DevChanges) -> None:
    """Keep or reset every instance of the changed and orphaned labels; record the new hashes."""
    labels = [*changes.changed, *changes.orphaned]
    async with store.engine.begin() as conn:
        for machine, version in labels:
            spec = app.machines[machine]
            target = spec.version if (machine, version) in changes.orphaned else version
            target_spec = app.version_spec(machine, target)
            rows = (await conn.execute(
                select(instances.c.name, instances.c.snapshot, instances.c.seq)
                .where(instances.c.machine == machine, instances.c.version == version))).all()
            kept, reset = [], []
            for row in rows:
                snapshot = from_json(row.snapshot)
                if _fits(target_spec.machine, snapshot):
                    kept.append(row.name)
                    await conn.execute(
                        update(instances)
                        .where(instances.c.machine == machine, instances.c.name == row.name)
                        .values(version=target))
                    await conn.execute(delete(checkpoints).where(
                        checkpoints.c.machine == machine, checkpoints.c.instance == row.name,
                        checkpoints.c.seq == row.seq))
                    await conn.execute(insert(checkpoints).values(
                        machine=machine, instance=row.name, seq=row.seq, version=target,
                        snapshot=row.snapshot))
                else:
                    reset.append(row.name)
                    await _delete_instance(conn, machine, row.name)
            what = (f"machine {machine!r} version {version!r} changed" if target == version
                    else f"machine {machine!r} version {version!r} is no longer registered")
            log.warning("dev mode: %s: %d instance(s) kept in their state (same state paths)%s, "
                        "%d reset (their state no longer exists)%s", what, len(kept),
                        _names(kept), len(reset), _names(reset))
        for (machine, version), digest in changes.changed.items():
            await conn.execute(
                update(machine_versions)
                .where(machine_versions.c.machine == machine, machine_versions.c.version == version)
                .values(config_hash=digest, first_seen=time.time()))


def _fits(machine: Any, snapshot: Any) -> bool:
    """Whether the stored snapshot's state (and history) exist in `machine`."""
    try:
        machine.restore(snapshot)
    except (ValueError, TypeError, KeyError):
        return False
    return True


async def _delete_instance(conn: Any, machine: str, name: str) -> None:
    await conn.execute(delete(instances).where(instances.c.machine == machine,
                                               instances.c.name == name))
    for table in (events, checkpoints, timers, outbox):
        await conn.execute(delete(table).where(table.c.machine == machine,
                                               table.c.instance == name))
    await conn.execute(delete(index_entries).where(index_entries.c.machine == machine,
                                                   index_entries.c.instance == name))


def _names(names: list[str], shown: int = 5) -> str:
    if not names:
        return ""
    more = f", +{len(names) - shown} more" if len(names) > shown else ""
    return " (" + ", ".join(names[:shown]) + more + ")"
