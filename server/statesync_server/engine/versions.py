"""Machine versions: content hashes, the start-up check, counts, and bulk upgrades.

Each registered version is a label plus the SHA-256 of its JSON config (`machine.to_config()`:
states, transitions, and implementations by name). The database remembers the hash of every
label it has served; the server refuses to start when

- a label now has a different config (an accidental change: give it a new label and a
  `Migration`), or
- instances are stored at a version the app no longer registers (register it again, with a
  migration to the current version, and run `statesync upgrade`), or
- a registered migration does not fit its versions (a leaf state with no place to go).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from ..errors import ErrorCode, StatesyncError
from ..migrations import Migration, MigrationError
from ..ops import Op
from ..store.schema import instances, machine_versions

log = logging.getLogger("statesync")

_UPGRADE_CONCURRENCY = 512  # upgrades in flight at once (they share group commits)


class StartupError(RuntimeError):
    """The app and the database disagree; the server must not start."""


def config_hash(machine: Any) -> str:
    """SHA-256 of the machine's JSON config, key order kept (it is document order)."""
    text = json.dumps(machine.to_config(), separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def app_identity(app: Any) -> tuple[str, dict[str, list[str]]]:
    """What a process records of its app in `nodes` (cluster mode): the hash of every
    registered machine version's config, and machine -> the version labels it serves."""
    specs = sorted(all_specs(app), key=lambda spec: (spec.name, spec.version))
    digest = hashlib.sha256()
    versions: dict[str, list[str]] = {}
    for spec in specs:
        digest.update(f"{spec.name}\0{spec.version}\0{config_hash(spec.machine)}\0".encode())
        versions.setdefault(spec.name, []).append(spec.version)
    return digest.hexdigest()[:16], versions


async def check_served_everywhere(engine: Any, machine: str, version: str) -> None:
    """Refuse (`unavailable`: retry once the deploy is done) to move instances to a version
    some live process of the cluster does not serve yet: that process could no longer serve
    them (a rolling deploy upgrades once every process runs the new app)."""
    if engine.cluster is None:
        return
    behind = [member for member in await engine.cluster.members()
              if version not in member.versions.get(machine, ())]
    if behind:
        names = ", ".join(f"{m.id} (app {m.app or '?'})" for m in behind[:5])
        raise StatesyncError(
            ErrorCode.UNAVAILABLE,
            f"{len(behind)} live process(es) do not serve {machine!r} version {version!r} yet: "
            f"{names}; replace them with the new app first, then upgrade (docs/deployment.md)")


def all_specs(app: Any) -> Iterable[Any]:
    """Every registered (machine, version) spec, current ones included."""
    seen = set()
    for name, versions in app.versions.items():
        for spec in versions.values():
            seen.add((name, spec.version))
            yield spec
    for name, spec in app.machines.items():
        if (name, spec.version) not in seen:
            yield spec


async def version_counts(store: Any) -> dict[tuple[str, str], int]:
    """Stored instances per (machine, version)."""
    from sqlalchemy import func

    query = select(instances.c.machine, instances.c.version, func.count()).group_by(
        instances.c.machine, instances.c.version
    )
    async with store.engine.connect() as conn:
        return {(m, v): n for m, v, n in await conn.execute(query)}


async def stored_hashes(store: Any) -> dict[tuple[str, str], str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(select(machine_versions))
        return {(r.machine, r.version): r.config_hash for r in rows}


async def prepare(app: Any, store: Any, *, dev: bool = False) -> None:
    """The start-up check (see the module doc), then index back-fills. Raises `StartupError`.
    One process at a time (processes starting together would record the same rows).

    `dev` (`statesync serve --dev`): a changed or unregistered version is not refused; its
    instances are kept or reset instead (dev_database.py)."""
    async with store.exclusive():
        await _prepare(app, store, dev)


async def _prepare(app: Any, store: Any, dev: bool = False) -> None:
    from ..store.dev_database import DevChanges, adopt
    from .indexes import backfill

    problems: list[str] = []
    changes = DevChanges()
    known = await stored_hashes(store)
    new_rows = []
    for spec in all_specs(app):
        digest = config_hash(spec.machine)
        stored = known.get((spec.name, spec.version))
        if stored is None:
            new_rows.append({"machine": spec.name, "version": spec.version,
                             "config_hash": digest, "first_seen": time.time()})
        elif stored != digest and dev:
            changes.changed[(spec.name, spec.version)] = digest
        elif stored != digest:
            problems.append(
                f"machine {spec.name!r} version {spec.version!r} has changed since this database "
                f"first served it (config hash {stored[:12]} -> {digest[:12]}); give the changed "
                f"machine a new version label and register a Migration to it (in development, "
                f"`statesync serve --dev` keeps or resets the instances instead)"
            )
    for (machine, version), count in sorted((await version_counts(store)).items()):
        if machine not in app.machines:
            log.warning("%d stored instances of machine %r, which the app does not register",
                        count, machine)
        elif version not in app.versions.get(machine, {}) and version != app.machines[machine].version:
            current = app.machines[machine].version
            if dev:
                changes.orphaned.append((machine, version))
                continue
            problems.append(
                f"{count} instance(s) of machine {machine!r} are at version {version!r}, which is "
                f"no longer registered; register version {version!r} again next to version "
                f"{current!r} with a Migration from {version!r}, then run `statesync upgrade`"
            )
    problems.extend(check_migrations(app))
    if problems:
        message = "statesync cannot start:\n  - " + "\n  - ".join(problems)
        log.error("%s", message)
        raise StartupError(message)
    if changes:
        await adopt(app, store, changes)
    if new_rows:
        async with store.engine.begin() as conn:
            await conn.execute(insert(machine_versions), new_rows)
    await backfill(app, store)


def check_migrations(app: Any) -> list[str]:
    problems = []
    for migration in app.migrations:
        if not isinstance(migration, Migration):
            problems.append(f"{migration!r} is not a statesync_server.Migration")
            continue
        versions = app.versions.get(migration.machine)
        if not versions:
            problems.append(f"migration {migration}: no machine {migration.machine!r}")
            continue
        missing = [v for v in (migration.from_version, migration.to_version) if v not in versions]
        if missing:
            problems.append(f"migration {migration}: version(s) {', '.join(missing)} not registered")
            continue
        try:
            migration.check(versions[migration.from_version].machine,
                            versions[migration.to_version].machine)
        except MigrationError as exc:
            problems.append(str(exc))
    return problems


# --- upgrading many instances -------------------------------------------------------------


@dataclass
class UpgradeReport:
    """What an upgrade of many instances did."""

    upgraded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = f"{len(self.upgraded)} upgraded, {len(self.unchanged)} already current"
        if self.failed:
            text += f", {len(self.failed)} failed"
        return text


async def instance_names(store: Any, machine: str, version: str | None = None) -> list[str]:
    """Names of the stored instances of `machine` (at `version`, if given), sorted."""
    query = select(instances.c.name).where(instances.c.machine == machine)
    if version is not None:
        query = query.where(instances.c.version == version)
    async with store.engine.connect() as conn:
        return list((await conn.execute(query.order_by(instances.c.name))).scalars())


async def upgrade_instances(
    engine: Any,
    machine: str,
    names: Iterable[str],
    to_version: str | None = None,
    *,
    claims: dict[str, Any] | None = None,
) -> UpgradeReport:
    """Upgrade each named instance (queued behind its pending events; applied between two
    events) to `to_version` (default: the current version)."""
    claims = claims or {"sub": "statesync:upgrade"}
    await check_served_everywhere(engine, machine, to_version or engine.app.spec(machine).version)
    report = UpgradeReport()
    gate = asyncio.Semaphore(_UPGRADE_CONCURRENCY)

    async def one(name: str) -> None:
        async with gate:
            op = Op("upgrade", machine, name, claims)
            op.version = to_version
            op.timer_dues = await engine.store.timer_dues(machine, name)
            try:
                result = await engine.run(op)
            except StatesyncError as exc:
                report.failed[name] = f"{exc.code}: {exc.message}"
                return
            (report.upgraded if result.upgraded else report.unchanged).append(name)

    await asyncio.gather(*(one(n) for n in names))
    for part in (report.upgraded, report.unchanged):
        part.sort()
    return report


async def upgrade_version(engine: Any, machine: str, from_version: str,
                          to_version: str | None = None) -> UpgradeReport:
    """Upgrade every instance of `machine` stored at `from_version`."""
    names = await instance_names(engine.store, machine, from_version)
    return await upgrade_instances(engine, machine, names, to_version)


async def query_names(app: Any, store: Any, machine: str, where: dict[str, Any]) -> list[str]:
    """Every instance an index query `{index, op, value}` matches (no authorization)."""
    from .indexes import Query, run_query

    names: dict[str, None] = {}
    cursor = None
    while True:
        query = Query(machine, str(where.get("index")), str(where.get("op", "eq")),
                      where.get("value"), "asc", 1000, cursor)
        items, cursor = await run_query(app, store, None, query)
        names.update((item.state.instance, None) for item in items)
        if cursor is None:
            return list(names)


async def upgrade_request(engine: Any, machine: str, *, to_version: str | None = None,
                          from_version: str | None = None, instances: list[str] | None = None,
                          where: dict[str, Any] | None = None,
                          claims: dict[str, Any] | None = None) -> UpgradeReport:
    """Upgrade the named instances, or those an index query matches, or every instance at
    `from_version`, or (none of these) every instance of `machine` not at the target."""
    engine.app.spec(machine)  # not-found for an unknown machine
    target = to_version or engine.app.machines[machine].version
    engine.app.version_spec(machine, target)
    if instances is not None:
        names = instances
    elif where is not None:
        names = await query_names(engine.app, engine.store, machine, where)
    elif from_version is not None:
        names = await instance_names(engine.store, machine, from_version)
    else:
        counts = await version_counts(engine.store)
        names = []
        for (m, version), _count in sorted(counts.items()):
            if m == machine and version != target:
                names.extend(await instance_names(engine.store, machine, version))
    return await upgrade_instances(engine, machine, names, target, claims=claims)
