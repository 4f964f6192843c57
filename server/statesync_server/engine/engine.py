"""The event pipeline: per-instance strict ordering, authorization, the pure core, group
commit, then acks and updates.

Each instance has a slot with a queue of operations and at most one worker task. The
worker takes everything queued, applies it in arrival order to the committed snapshot
(`apply.py`: authorized, rejections write nothing), commits the resulting transitions in one
write through the group committer (`commit.py`), and only then answers the callers (acks
before updates) and broadcasts the updates to the subscribers (`broadcast.py`). Reads answer
from the committed state (`reads.py`). Different instances run concurrently and share commits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ..app import App, MachineSpec
from ..errors import ErrorCode, StatesyncError
from ..limits import check_operation
from ..metrics import Metrics
from ..ops import Op, Subscriber
from ..store import InstanceWrite, LogRow, Store, WriteConflict
from ..store.cluster import Cluster, Notice
from ..store.groupcommit import GroupCommitter
from ..store.outage import is_disconnect, is_outage
from ..workflow.clock import Clock, SystemClock
from ..workflow.workflow import RESERVED_EVENT_ID, Workflow
from . import broadcast, outcomes, privacy, reads
from .apply import Applier
from .commit import instance_write
from .cursors import CursorSealer
from .history import Step, replay
from .live_queries import LiveQueries
from .peers import Peers, PeerUnavailable, forwardable
from .projection import logged_state, public_state
from .results import ReadGrant, SendResult
from .slots import UNKNOWN, WRITES, Committed, Slot, Work, take
from .versions import app_identity, prepare

log = logging.getLogger("statesync")

_RECENT_IDS = 1024  # event ids remembered per cached instance, to answer resends cheaply
_MISSING = 100_000  # names remembered as not existing (one database lookup each)
_LOADS = 8  # instance loads in flight at once, server-wide: the pool keeps room for the rest
_CONFLICT_RETRIES = 50  # re-applies of a batch another process committed before (cluster mode)
_FENCE_AFTER = 3  # lost races before a write takes the instance's row lock (cluster mode)
_FENCES = 4  # fenced writes at once (each holds a pooled connection; loads may hold _LOADS more)


class NotServedHere(StatesyncError):
    """The instance is stored at a machine version this process does not register."""


class Engine:
    """Applies operations to instances; the only writer of instance state."""

    def __init__(self, app: App, store: Store, *, cache_size: int = 10_000,
                 cluster_lease: float = 5.0, clock: Clock | None = None,
                 node_id: str | None = None) -> None:
        self.app = app
        self.store = store
        self.clock: Clock = clock or SystemClock()
        """Timers, effect retries and the event log's times (clock.py); the rows' too."""
        store.clock = self.clock.time
        self.dev = False
        """Dev mode: a changed machine upgrades or resets its instances (dev_database.py)."""
        self.metrics = Metrics()
        """Prometheus instruments in a registry of this engine's own (`/metrics`)."""
        self.committer = GroupCommitter(store, metrics=self.metrics)
        self.cache_size = cache_size
        self._slots: OrderedDict[tuple[str, str], Slot] = OrderedDict()
        self._stopping = False
        self.workflow = Workflow(self)
        self.applier = Applier(app, self.workflow, self.clock)
        self.metrics.subscriptions.set_function(
            lambda: sum(len(slot.subscribers) for slot in list(self._slots.values())))
        self.metrics.timers_pending.set_function(lambda: len(self.workflow.scheduler))
        self.metrics.jobs_running.set_function(lambda: self.workflow.runner.running)
        self.settle_timeout = 30.0
        self._settling: set[asyncio.Task[None]] = set()
        self._loads = asyncio.Semaphore(_LOADS)
        self._fences = asyncio.Semaphore(_FENCES)
        self._missing: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._catchups: set[asyncio.Task[None]] = set()
        self.cursors = CursorSealer.from_secret(None)
        """Seals query cursors; `create_asgi_app` keys it from the token key."""
        self.live = LiveQueries(app)
        """Live queries (`watch`): told of each commit of a watched machine."""
        self.cluster: Cluster | None = None
        """Set on PostgreSQL: other processes may commit to the same instances."""
        self.cluster_lease = cluster_lease
        self.node_id = node_id
        self.peers: Peers | None = None
        """Cluster mode with a peer address and key: where client sends are forwarded to
        their instance's owner (peers.py); set before `start`."""

    @property
    def accepting(self) -> bool:
        """Whether operations are still taken (false once the engine is stopping)."""
        return not self._stopping

    @property
    def busy(self) -> bool:
        """Whether some instance has operations queued or being applied."""
        return any(slot.task is not None for slot in self._slots.values())

    async def start(self) -> None:
        await self.store.open()
        await prepare(self.app, self.store, dev=self.dev)  # version check, index back-fill; may refuse
        if not self.store.is_sqlite:
            app_hash, served = app_identity(self.app)
            self.cluster = Cluster(self.store, notified=self.notified, resync=self.resync,
                                   claimed=self.workflow.claimed, lease=self.cluster_lease,
                                   node=self.node_id, app=app_hash, versions=served,
                                   address=self.peers.address if self.peers else None)
            if (peers := self.peers) is not None:
                peers.node, peers.app = self.cluster.node, app_hash
                self.cluster.on_members = peers.update
                self.metrics.cluster_members.set_function(lambda: peers.members)
            await self.cluster.start()
        self.committer.start()
        await self.workflow.start()

    async def stop(self) -> None:
        """Finish queued operations, commit, close the database."""
        self._stopping = True
        await self.workflow.stop()
        for task in [*self._settling, *self._catchups]:
            task.cancel()
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.committer.stop()
        if self.peers is not None:
            await self.peers.close()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.store.close()

    # --- entry points ---------------------------------------------------------------------

    def submit(self, op: Op) -> None:
        """Queue `op` behind the instance's earlier operations; never raises."""
        op.received = time.perf_counter()
        try:
            if self._stopping:
                raise StatesyncError(ErrorCode.INTERNAL, "server is shutting down")
            spec = self.app.spec(op.machine)
            check_operation(op.instance, op.event_id, (op.claims or {}).get("sub"))
            if op.kind == "send" and op.ref is None:
                assert op.event is not None
                if len(self.app.versions.get(op.machine, ())) <= 1:  # else: by its version
                    op.event = spec.validate_event(op.event)
                if op.event_id is not None and op.event_id.startswith(RESERVED_EVENT_ID):
                    raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                                         f"event ids starting with {RESERVED_EVENT_ID!r} are reserved")
        except StatesyncError as exc:
            op.answer(exc)
            if op.kind in WRITES:
                outcomes.rejected(self.metrics, op, exc)
            return
        slot = self._slot(spec, op.instance)
        slot.ops.append(op)
        if slot.task is None:
            slot.task = asyncio.create_task(self._drain(slot))

    async def run(self, op: Op) -> Any:
        """Submit `op` and wait for its result; raise it if it is an error."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        op.reply = lambda result: future.done() or future.set_result(result)
        self.submit(op)
        result = await future
        if isinstance(result, StatesyncError):
            raise result
        return result

    def detach(self, subscriber: Subscriber, keys: list[tuple[str, str]]) -> None:
        """Forget a closed subscriber's subscriptions."""
        for key in keys:
            slot = self._slots.get(key)
            if slot is not None:
                slot.subscribers.pop(subscriber, None)

    async def grant(self, claims: Mapping[str, Any], machine: str, instance: str) -> ReadGrant:
        """The caller's `ReadGrant` on an instance; `forbidden` if it may not read it now."""
        return await self.run(Op("get", machine, instance, claims, grant=True))

    def notified(self, notice: Notice) -> None:
        """Another process committed to an instance (cluster mode): if it is cached or its
        machine is watched, bring it up to date behind its queued operations."""
        key = (notice.machine, notice.instance)
        slot = self._slots.get(key)
        if slot is not None:
            slot.notified_seq = max(slot.notified_seq, notice.last)
        if notice.machine not in self.live.watched and (slot is None or _unread(slot)):
            if slot is not None:  # nobody here waits for this seq: read again when next used
                slot.loaded = False  # (e.g. cached for a send forwarded to the owner)
            return
        if notice.machine not in self.app.machines:
            return
        if slot is not None and slot.refresh_queued:
            return
        op = Op("refresh", notice.machine, notice.instance, {})
        op.since = notice.first - 1
        self.submit(op)
        if (queued := self._slots.get(key)) is not None:
            queued.refresh_queued = True

    def resync(self) -> None:
        """Notifications may have been lost: refresh every instance someone listens to."""
        for slot in list(self._slots.values()):
            if slot.subscribers or slot.machine in self.live.watched:
                self.submit(Op("refresh", slot.machine, slot.instance, {}))

    # --- the worker -----------------------------------------------------------------------

    def _slot(self, spec: MachineSpec, instance: str) -> Slot:
        key = (spec.name, instance)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = Slot(spec.name, instance, spec)
        else:
            self._slots.move_to_end(key)
        return slot

    async def _drain(self, slot: Slot) -> None:
        try:
            while slot.ops:
                batch = take(slot.ops)
                for attempt in range(2):
                    try:
                        await self._process(slot, batch)
                        break
                    except Exception as exc:
                        # Re-read before the next operation, from the state last sent (`_load`).
                        slot.loaded, slot.live_stale = False, True
                        if attempt == 0 and is_disconnect(exc):
                            continue  # a connection from before a database restart: once more
                        self._failed(slot, batch, exc)
                        break
        finally:
            slot.task = None
            if slot.state is None and not slot.subscribers:  # kept in `_missing` instead
                if self._slots.get((slot.machine, slot.instance)) is slot and not slot.ops:
                    del self._slots[(slot.machine, slot.instance)]
            self._evict()

    async def _process(self, slot: Slot, batch: list[Op]) -> None:
        """Carry out one unit of work (`slots.take`) on the instance."""
        if batch[0].kind == "refresh":
            slot.refresh_queued = False
            await self._refresh(slot, batch[0].since)
            return
        if batch[0].kind in WRITES and self.peers is not None:
            batch = await self._forward(slot, batch)
            if not batch:
                return
        if batch[0].kind in WRITES:
            await self._load(slot)
            await self._write(slot, batch)
            return
        slot.reading = True
        try:
            loaded = await self._load(slot)
            # Cluster mode: no read staler than an acknowledgement any process gave. A read
            # received before the cache was last confirmed (this process's fenced commit
            # included) is answered from it; an unsubscribe reads nothing.
            op = batch[0]
            if (self.cluster is not None and not loaded and op.kind != "unsubscribe"
                    and op.received > slot.fresh_at):
                await self._up_to_date(slot)
            await self._read(slot, op)
        finally:
            slot.reading = False

    async def _forward(self, slot: Slot, batch: list[Op]) -> list[Op]:
        """Cluster mode: send a run of client sends to the instance's owner when that is
        another process, and answer them with its results (peers.py); the operations left
        to apply here (all of them when this process owns the instance, the owner cannot be
        reached in time, or it does not serve the instance's version)."""
        assert self.peers is not None
        address = self.peers.owner(slot.machine, slot.instance)
        if address is None or not all(forwardable(op) for op in batch):
            return batch
        try:
            results = await self.peers.forward(address, batch)
        except PeerUnavailable:
            self.metrics.forward_fallbacks.inc(len(batch))
            return batch
        self.metrics.writes_forwarded.inc(len(batch))
        here = []
        for op, result in zip(batch, results, strict=True):
            if isinstance(result, StatesyncError) and result.code == ErrorCode.UNAVAILABLE:
                here.append(op)  # e.g. the owner runs an older version (a deploy under way)
            else:
                op.answer(result)
        return here

    def _stored_spec(self, machine: str, version: str) -> MachineSpec:
        """The machine version an instance is stored at; `NotServedHere` when this process
        does not register it (a rolling deploy: a newer process made or upgraded it)."""
        try:
            return self.app.version_spec(machine, version)
        except StatesyncError:
            raise NotServedHere(
                ErrorCode.UNAVAILABLE,
                f"the instance is at version {version!r} of {machine!r}, which this server "
                "process does not run (a deploy is under way): nothing applied, retry (another "
                "process serves it)") from None

    def _failed(self, slot: Slot, batch: list[Op], exc: Exception) -> None:
        """Answer the operations of a unit of work that raised `exc`: `unavailable` when the
        database is away or full (logged once per outage) or the instance is at a version
        this process does not run (its subscriptions end too: they resume elsewhere), else
        `internal` (logged)."""
        if isinstance(exc, NotServedHere):
            error: StatesyncError = exc
            for subscriber in list(slot.subscribers):
                subscriber.lost(slot.machine, slot.instance, exc)
            slot.subscribers.clear()
        elif is_outage(exc):
            self.store.outage.failed(exc)
            error = StatesyncError(ErrorCode.UNAVAILABLE,
                                   "the database is unavailable; nothing applied, retry")
        else:
            log.error("failed to process %s/%s", slot.machine, slot.instance, exc_info=exc)
            error = StatesyncError(ErrorCode.INTERNAL, "internal error; nothing applied")
        for op in batch:
            if op.kind in WRITES and not op.answered:
                outcomes.rejected(self.metrics, op, error)
            op.answer(error)

    async def _load(self, slot: Slot) -> bool:
        """Read the instance if it is not cached; whether it was read now. After a failure
        (the state is kept but not trusted), catch up from the state the subscribers were
        last sent, sending them every transition committed since, in order."""
        if not slot.loaded and slot.state is not None:
            await self._refresh(slot)
            slot.loaded = True
            return True
        if not slot.loaded:
            key = (slot.machine, slot.instance)
            if key in self._missing:
                self._missing.move_to_end(key)
                stored = None
            else:
                sent = time.perf_counter()
                async with self._loads:
                    stored = await self.store.load(slot.machine, slot.instance)
                slot.fresh_at = sent
                if stored is None and self.cluster is None:  # cluster: others may create it
                    self._missing[key] = None
                    if len(self._missing) > _MISSING:
                        self._missing.popitem(last=False)
            if stored is not None:
                slot.spec = self._stored_spec(slot.machine, stored.version)
                snapshot = slot.spec.machine.restore(stored.snapshot)
                slot.state = Committed(stored.version, snapshot, stored.seq)
                async with self._loads:
                    slot.live = await self.workflow.load_live(slot.machine, slot.instance)
            else:
                slot.live = None
            slot.recent.clear()
            slot.loaded = True
            return True
        return False

    async def _up_to_date(self, slot: Slot) -> None:
        """Cluster mode, before a read: refresh if another process committed since (so no
        read is staler than an acknowledgement any process gave)."""
        sent = time.perf_counter()
        seq = await self.store.current_seq(slot.machine, slot.instance)
        if seq is not None and (slot.state is None or seq > slot.state.seq):
            await self._refresh(slot)
        else:
            slot.fresh_at = sent

    async def _refresh(self, slot: Slot, since: int | None = None) -> None:
        """Catch the cached instance up with the database: deliver each transition another
        process committed after the cached seq to the subscribers, in seq order and
        projected per reader, and tell the live queries (`since`: the seq before the first
        new one, when the instance is not cached)."""
        before = slot.state
        watched = slot.machine in self.live.watched
        rows: list[LogRow] | None = None
        sent = time.perf_counter()
        async with self._loads:
            if before is not None and (slot.subscribers or watched):  # one round trip
                stored, rows = await self.store.catch_up(slot.machine, slot.instance, before.seq)
            else:
                stored = await self.store.load(slot.machine, slot.instance)
        if stored is None or (before is not None and stored.seq <= before.seq):
            if stored is not None:
                slot.fresh_at = sent
            return
        spec = self._stored_spec(slot.machine, stored.version)
        after = Committed(stored.version, spec.machine.restore(stored.snapshot), stored.seq)
        start = before.seq if before is not None else since
        steps: list[Step] = []
        # What a subscriber is sent of a step depends on nothing but the logged row (the
        # default read rule, a projection without the reader): no replay to rebuild it.
        as_logged = (not privacy.checks_reads(spec) and not spec.context_takes_reader
                     and spec.allow_read_history is None)
        if (slot.subscribers or watched) and start is not None and stored.seq > start:
            if rows is not None and (stored.seq == start + 1 or as_logged):
                steps = [Step(row, spec, after.snapshot) for row in rows]
            else:  # several transitions (or the one before them): replayed exactly
                as_logged = False
                origin = start - 1 if before is None and start >= 0 else start
                steps = await replay(self.app, self.store, slot.machine, slot.instance, origin,
                                     stored.seq - origin)
            if before is None and steps and steps[0].row.seq == start:
                first = steps.pop(0)
                before = Committed(first.spec.version, first.snapshot, first.row.seq)
        now = time.time()
        for step in steps:
            if step.snapshot is None:
                continue
            slot.spec = step.spec
            public = (logged_state(slot, step.row) if as_logged
                      else public_state(slot, step.snapshot, step.row.seq))
            broadcast.broadcast(slot, step.snapshot, public)
            for event in step.row.emitted or ():  # stored with the row: none is missed
                broadcast.emit(slot, step.snapshot, step.row.seq, event, now)
        slot.spec, slot.state, slot.fresh_at = spec, after, sent
        slot.live_stale = True  # read again before this process writes to the instance
        if not slot.loaded:
            slot.recent.clear()
            slot.loaded = True
        if watched:
            self.live.committed(slot.machine, slot.instance, before, after)

    def warm(self, stored: Mapping[tuple[str, str], Any]) -> None:
        """Cache instances read in bulk (`StoredInstance`s), so the late timers fired at
        start-up do not each wait for a load of their own."""
        for (machine, instance), row in stored.items():
            spec = self.app.machines.get(machine)
            if spec is None or (machine, instance) in self._slots:
                continue
            try:
                spec = self.app.version_spec(machine, row.version)
                snapshot = spec.machine.restore(row.snapshot)
            except Exception:  # noqa: BLE001, S112 - loaded (and reported) the usual way when used
                continue
            slot = self._slot(spec, instance)
            slot.state = Committed(row.version, snapshot, row.seq)
            slot.loaded = True

    async def _write(self, slot: Slot, batch: list[Op]) -> None:
        """Apply and commit a run of creates and sends.

        Event ids are assumed new unless seen since the instance was loaded; the database's
        uniqueness rule catches the rest (a resend after a restart), and then the batch is
        redone knowing which ids were applied. Nothing is answered before the commit.
        """
        seen: dict[str, tuple[int, str | None]] = {}
        ids = [op.event_id for op in batch if op.event_id is not None]
        for attempt in range(_CONFLICT_RETRIES):
            try:
                if attempt >= _FENCE_AFTER and self.cluster is not None:
                    # Another process keeps committing to the instance first: catch up and
                    # commit under its row lock, so this write cannot lose to it again (the
                    # process whose cache is always fresh would win every race).
                    await self._write_fenced(slot, batch, ids)
                    return
                if attempt:  # a lost race, or a resend after a restart: catch up, and ask
                    # the database which of the batch's event ids it has
                    if self.cluster is not None:  # processes writing one instance fall out of step
                        await asyncio.sleep(random.uniform(0, 0.001 * 2 ** attempt))
                    _, seen = await asyncio.gather(
                        self._refresh(slot), self.store.applied(slot.machine, slot.instance, ids))
                elif slot.state is not None and slot.notified_seq > slot.state.seq:
                    await self._refresh(slot)  # a commit from this cache would be refused
                await self._prepare(slot)
                await self._flush(slot, self.applier.apply(slot, batch, dict(seen)))
                return
            except WriteConflict:
                self.metrics.write_conflicts.inc()
                continue
        error = StatesyncError(ErrorCode.INTERNAL, "too much contention; nothing applied, resend")
        for op in batch:
            op.answer(error)
            outcomes.rejected(self.metrics, op, error)

    async def _write_fenced(self, slot: Slot, batch: list[Op], ids: list[str]) -> None:
        """`_write` under the instance's row lock (`Store.fenced`): caught up with every
        commit before it, applied, and committed in that transaction."""
        async with self._fences, self.store.fenced(slot.machine, slot.instance) as fence:
            _, seen = await asyncio.gather(
                self._refresh(slot), self.store.applied(slot.machine, slot.instance, ids))
            await self._prepare(slot)
            await self._flush(slot, self.applier.apply(slot, batch, dict(seen)), fence.commit)

    async def _prepare(self, slot: Slot) -> None:
        """Read what a write needs and the cache may lack: the parent link, the live timers
        and services (after another process's commit)."""
        if slot.parent is UNKNOWN and slot.state is not None:
            slot.parent = await self.workflow.parent_of(slot.machine, slot.instance)
        if slot.live_stale:
            async with self._loads:
                slot.live = await self.workflow.load_live(slot.machine, slot.instance)
            slot.live_stale = False

    async def _flush(self, slot: Slot, work: Work,
                     commit: Callable[[InstanceWrite], Awaitable[None]] | None = None) -> None:
        """Commit `work` (through the group committer, or `commit`), then answer its
        operations, then broadcast its updates and tell the live queries."""
        before = slot.state
        await self._commit(slot, work, commit or self.committer.commit)
        self._answer(work.answers)
        broadcast.updates(slot, work)
        if work.log and slot.machine in self.live.watched:
            self.live.committed(slot.machine, slot.instance, before, slot.state)

    async def _commit(self, slot: Slot, work: Work,
                      commit: Callable[[InstanceWrite], Awaitable[None]]) -> None:
        """Write `work` in one transaction (commit.py), then cache it as the committed state."""
        side = work.batch.side() if work.batch is not None else None
        if not work.log and side is not None:  # e.g. a timer whose event was not taken
            await commit(self.workflow.side_only(side))
        if work.log:
            sent = time.perf_counter()
            await commit(instance_write(self.app, slot, work, side))
            slot.state, slot.fresh_at = work.state, sent  # fenced: nobody committed after it
            outcomes.applied(self.metrics, slot, work)
            if work.insert:
                self._missing.pop((slot.machine, slot.instance), None)
            slot.recent.update(work.applied)
            while len(slot.recent) > _RECENT_IDS:
                del slot.recent[next(iter(slot.recent))]
        if work.batch is not None:
            slot.live = work.batch.live
            self.workflow.committed(side)

    def _answer(self, answers: list[tuple[Op, Any]]) -> None:
        """Answer each operation of a committed unit of work (a send with `settle` once its
        effects are done)."""
        for op, result in answers:
            if op.settle and isinstance(result, SendResult):
                task = asyncio.create_task(self._answer_settled(op, result))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)
            else:
                op.answer(result)
                if isinstance(result, StatesyncError):
                    outcomes.rejected(self.metrics, op, result)

    async def _answer_settled(self, op: Op, result: SendResult) -> None:
        """Answer a send made with `settle` once the instance's effects are done."""
        settled = await self.workflow.wait_settled(op.machine, op.instance, self.settle_timeout)
        try:
            state = await self.run(Op("get", op.machine, op.instance, op.claims))
        except StatesyncError:
            state = None
        op.answer(SendResult(result.seq, result.duplicate, settled, state))

    async def _read(self, slot: Slot, op: Op) -> None:
        """Operations that read committed state: get, subscribe, unsubscribe (reads.py); a
        subscriber behind (`since`) catches up outside the worker."""
        behind = reads.read(slot, op)
        if behind is not None:
            task = asyncio.create_task(reads.catch_up(self.app, self.store, slot, *behind))
            self._catchups.add(task)
            task.add_done_callback(self._catchups.discard)

    def _evict(self) -> None:
        """Drop idle cached instances beyond `cache_size`, least recently used first."""
        excess = len(self._slots) - self.cache_size
        if excess <= 0:
            return
        idle = [
            key
            for key, slot in self._slots.items()
            if slot.task is None and not slot.ops and not slot.subscribers
        ]
        for key in idle[: excess + self.cache_size // 10]:
            del self._slots[key]


def _unread(slot: Slot) -> bool:
    """Whether nothing on this process waits for the instance's updates: no subscriber, none
    subscribing (a read being answered or queued)."""
    return not slot.subscribers and not slot.reading and all(op.kind in WRITES for op in slot.ops)
