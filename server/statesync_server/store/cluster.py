"""Cluster mode: several server processes on one PostgreSQL database (docs/deployment.md).

A `Cluster` gives its process an id, keeps the process's heartbeat in `nodes` (with its app's
hash and the machine versions it serves, for rolling deploys), listens for the
other processes' commits (NOTIFY `statesync`, sent by `Store.commit`) and hands each to the
engine as a refresh of that instance, and claims the timer and outbox rows of processes whose
heartbeat stopped (`FOR UPDATE SKIP LOCKED`, so two processes never claim the same row).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import text

from .store import Store
from .outage import is_outage

log = logging.getLogger("statesync.cluster")

CHANNEL = "statesync"
LISTENER = "statesync-listener"
"""The `application_name` of each process's LISTEN connection (followed by its id)."""
CLAIM_BATCH = 500


@dataclass(frozen=True, slots=True)
class Member:
    """A live process of the cluster: its id, its app's hash, the machine versions it serves."""

    id: str
    app: str | None
    versions: dict[str, list[str]]
    address: str | None = None
    """Where it takes the sends forwarded to the instances it owns (engine/peers.py)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Another process committed transitions `first`..`last` of an instance."""

    machine: str
    instance: str
    first: int
    last: int


_BEAT = text(
    "INSERT INTO nodes (id, started_at, heartbeat_at, app, versions, address) VALUES "
    "(:id, EXTRACT(EPOCH FROM now()), EXTRACT(EPOCH FROM now()), :app, :versions, :address) "
    "ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXTRACT(EPOCH FROM now()), "
    "app = :app, versions = :versions, address = :address")
_HAND_OVER = [text("UPDATE timers SET owner = NULL WHERE owner = :id"),
              text("UPDATE outbox SET owner = NULL WHERE owner = :id AND status = 'pending'"),
              text("DELETE FROM nodes WHERE id = :id")]
# Dead: no heartbeat within the lease, or (the usual crash: the database saw the process's
# connections close) no LISTEN connection of its own any more (a process joins `nodes` only
# once it listens).
_MEMBERS = text(
    "SELECT id, app, versions, address, (heartbeat_at < EXTRACT(EPOCH FROM now()) - :lease"
    " OR NOT EXISTS (SELECT 1 FROM pg_stat_activity"
    f" WHERE application_name = left('{LISTENER} ' || nodes.id, 63))) AS dead FROM nodes")
_BURY = text("DELETE FROM nodes WHERE id = :dead")
_LIVE = text(
    "SELECT id, app, versions, address FROM nodes WHERE heartbeat_at >= EXTRACT(EPOCH FROM now()) - :lease"
    " AND EXISTS (SELECT 1 FROM pg_stat_activity"
    f" WHERE application_name = left('{LISTENER} ' || nodes.id, 63)) ORDER BY id")
# The slow sweep: rows whose owner is not a live process for any other reason.
_NOT_LIVE = ("(owner IS NULL OR owner NOT IN (SELECT id FROM nodes "
             "WHERE heartbeat_at >= EXTRACT(EPOCH FROM now()) - :lease))")


def _claims(which: str) -> tuple[Any, Any]:
    timers = text(
        "UPDATE timers SET owner = :me WHERE (machine, instance, timer_id) IN ("
        f"SELECT machine, instance, timer_id FROM timers WHERE {which} "
        "ORDER BY due LIMIT :n FOR UPDATE SKIP LOCKED) "
        "RETURNING machine, instance, timer_id, seq, event, due")
    jobs = text(
        "UPDATE outbox SET owner = :me WHERE (machine, instance, seq, idx) IN ("
        f"SELECT machine, instance, seq, idx FROM outbox WHERE status = 'pending' AND {which} "
        "ORDER BY seq, idx LIMIT :n FOR UPDATE SKIP LOCKED) "
        "RETURNING machine, instance, seq, idx, kind, name, target, payload, attempts, next_at")
    return timers, jobs


# By owner (the `*_owner` indexes): a dead process's rows, and nobody's (handed over by a
# process that stopped, or written before cluster mode).
_CLAIM_DEAD = _claims("owner = :dead")
_CLAIM_NOBODY = _claims("owner IS NULL")
_CLAIM_SWEEP = _claims(_NOT_LIVE)
SWEEP_EVERY = 60
"""Heartbeats between two sweeps for rows of owners that are neither live nor known dead."""


class Cluster:
    """This process's membership of the cluster sharing `store`'s PostgreSQL database."""

    def __init__(self, store: Store, *, notified: Callable[[Notice], None],
                 resync: Callable[[], None], claimed: Callable[[list[Any], list[Any]], None],
                 node: str | None = None, lease: float = 5.0, beat: float = 1.0,
                 app: str | None = None, versions: dict[str, list[str]] | None = None,
                 address: str | None = None) -> None:
        self.store = store
        self.node = node or f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(4)}"
        """This process's id: stable across restarts (host and port) so a restarted process
        takes its own timers and jobs back at once, oldest first, instead of after the lease."""
        self.lease = lease
        """Seconds without a heartbeat after which a process's timers and jobs are claimed."""
        self.beat = beat
        self.app = app
        """The hash of this process's machine configs (`nodes.app`)."""
        self.versions = versions or {}
        """machine -> the version labels this process serves (`nodes.versions`)."""
        self.address = address
        """Where the other processes reach this one (its peer endpoint), if they may."""
        self.live: dict[str, Member] = {}
        """The live processes (this one included) as of the last heartbeat: id -> `Member`."""
        self.on_members: Callable[[dict[str, Member]], None] | None = None
        """Told the live processes whenever a heartbeat's look at `nodes` finds them changed."""
        self._notified = notified
        self._resync = resync
        self._claimed = claimed
        self._listener: Any = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Join: heartbeat, listen, and start claiming orphaned rows."""
        await self._listen()
        await self._heartbeat()
        self.store.node = self.node
        self._tasks = [asyncio.create_task(self._run(), name="statesync-cluster")]
        log.info("cluster: process %s joined", self.node)

    async def stop(self) -> None:
        """Leave: hand this process's timers and jobs to the others (they take them at once)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_listener()
        try:
            async with self.store._engine().begin() as conn:
                for statement in _HAND_OVER:
                    await conn.execute(statement, {"id": self.node})
        except Exception:  # noqa: BLE001 - the lease runs out instead
            log.warning("cluster: could not leave cleanly; the lease will expire")

    async def claim_now(self, *, sweep: bool = False) -> int:
        """Claim the timer and outbox rows of stopped processes, and those nobody owns (all
        of them, in batches; `sweep`: also any whose owner is not live, by a full scan)."""
        async with self.store._engine().connect() as conn:
            rows = (await conn.execute(_MEMBERS, {"lease": self.lease})).all()
        dead = [row.id for row in rows if row.dead and row.id != self.node]
        members = {row.id: _member(row) for row in rows if not row.dead or row.id == self.node}
        members[self.node] = Member(self.node, self.app, self.versions, self.address)
        if members != self.live:
            self.live = members
            if self.on_members is not None:
                self.on_members(members)
        total = await self._claim(_CLAIM_NOBODY, {})
        for owner in dead:
            total += await self._claim(_CLAIM_DEAD, {"dead": owner})
            async with self.store._engine().begin() as conn:  # all its rows are taken
                await conn.execute(_BURY, {"dead": owner})
        if sweep:
            total += await self._claim(_CLAIM_SWEEP, {})
        return total

    async def _claim(self, statements: tuple[Any, Any], params: dict[str, Any]) -> int:
        total = 0
        params = {**params, "me": self.node, "lease": self.lease, "n": CLAIM_BATCH}
        while True:
            async with self.store._engine().begin() as conn:
                timers = (await conn.execute(statements[0], params)).all()
                jobs = (await conn.execute(statements[1], params)).all()
            if timers or jobs:
                log.info("cluster: took over %d timers and %d jobs of stopped processes",
                         len(timers), len(jobs))
                self._claimed(timers, jobs)
            total += len(timers) + len(jobs)
            if len(timers) < CLAIM_BATCH and len(jobs) < CLAIM_BATCH:
                return total

    async def _run(self) -> None:
        beats, failing = 0, False
        while True:
            try:
                await self._heartbeat()
                if failing:  # the database is back: catch up every watched instance
                    failing = False
                    self.store.outage.ok()
                    self._resync()
                if not await self._listener_alive():
                    log.warning("cluster: lost the notification connection; listening again "
                                "and refreshing every watched instance")
                    await self._close_listener()
                    await self._listen()
                    self._resync()  # notifications may have been missed meanwhile
                beats += 1
                await self.claim_now(sweep=beats % SWEEP_EVERY == 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may be briefly away; go on
                failing = True
                if is_outage(exc):
                    self.store.outage.failed(exc)  # logged once per outage
                else:
                    log.exception("cluster: heartbeat or claim failed; retrying")
            await asyncio.sleep(self.beat)

    async def members(self) -> list[Member]:
        """The live processes (this one included): heartbeat within the lease, listening."""
        async with self.store._engine().connect() as conn:
            rows = (await conn.execute(_LIVE, {"lease": self.lease})).all()
        return [_member(row) for row in rows]

    async def _heartbeat(self) -> None:
        async with self.store._engine().begin() as conn:
            await conn.execute(_BEAT, {"id": self.node, "app": self.app,
                                       "versions": to_json(self.versions).decode(),
                                       "address": self.address})

    async def _listen(self) -> None:
        import asyncpg

        url = self.store.url.set(drivername="postgresql")
        name = f"{LISTENER} {self.node}".encode()[:63].decode(errors="ignore")
        self._listener = await asyncpg.connect(url.render_as_string(hide_password=False),
                                               server_settings={"application_name": name})
        await self._listener.add_listener(CHANNEL, self._on_notify)

    async def _listener_alive(self) -> bool:
        if self._listener is None or self._listener.is_closed():
            return False
        try:
            await asyncio.wait_for(self._listener.execute("SELECT 1"), self.lease)
        except Exception:  # noqa: BLE001
            return False
        return True

    async def _close_listener(self) -> None:
        if self._listener is not None:
            try:
                await self._listener.close(timeout=2)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
            self._listener = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            node, machine, instance, first, last = from_json(payload)[:5]
        except Exception:  # noqa: BLE001 - not ours
            return
        if node != self.node:
            self._notified(Notice(machine, instance, first, last))


def _member(row: Any) -> Member:
    return Member(row.id, row.app, from_json(row.versions) if row.versions else {}, row.address)
