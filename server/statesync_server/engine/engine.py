"""The event pipeline: per-instance strict ordering, authorization, the pure core, group
commit, then acks and updates.

Each instance has a slot with a queue of operations and at most one worker task. The
worker takes everything queued, applies it in arrival order to the committed snapshot
(rejections write nothing), commits the resulting transitions in one write through the
group committer, and only then answers the callers (acks before updates) and broadcasts
the updates to the subscribers. Different instances run concurrently and share commits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from statesync import Sender, UnknownActorError
from statesync.actions import Action

from ..workflow import children
from . import broadcast, emits, privacy
from .. import logs
from ..app import Access, App, MachineSpec
from ..store.cluster import Cluster, Notice
from ..workflow.clock import Clock, SystemClock
from .cursors import CursorSealer
from ..errors import ErrorCode, StatesyncError
from ..store.groupcommit import GroupCommitter
from .history import CHECKPOINT_EVERY, Step, readable_steps, replay
from .replay import HELD_BYTES, REPLAY_PAGE, Catchup
from .indexes import check_indexable, index_changes
from ..limits import check_operation
from .live_queries import LiveQueries
from ..metrics import Metrics
from ..migrations import UPGRADE, plan_upgrade
from ..ops import Op, Subscriber
from ..protocol import Ack, PublicState, SettledAck, Update
from ..store import InstanceWrite, LogRow, Store, WriteConflict
from ..store.outage import is_disconnect, is_outage
from .projection import logged_state, public_state, update_text
from .slots import UNKNOWN, WRITES, Committed, Slot, Work, take
from .versions import prepare
from ..workflow.workflow import DELIVER, RESERVED_EVENT_ID, Batch, Workflow

log = logging.getLogger("statesync")

_RECENT_IDS = 1024  # event ids remembered per cached instance, to answer resends cheaply
_MISSING = 100_000  # names remembered as not existing (one database lookup each)
_LOADS = 8  # instance loads in flight at once, server-wide: the pool keeps room for the rest
_CONFLICT_RETRIES = 50  # re-applies of a batch another process committed before (cluster mode)
_FENCE_AFTER = 3  # lost races before a write takes the instance's row lock (cluster mode)
_FENCES = 4  # fenced writes at once (each holds a pooled connection; loads may hold _LOADS more)

@dataclass(frozen=True, slots=True)
class CreateResult:
    state: PublicState
    existed: bool


@dataclass(frozen=True, slots=True)
class SendResult:
    seq: int
    duplicate: bool
    settled: bool | None = None  # with Op.settle: whether it settled before the timeout
    state: PublicState | None = None  # with Op.settle: the state then

    def ack(self, event_id: str, machine: str, instance: str) -> Ack:
        """The `ack` (or, for a send with `settle`, the `SettledAck`) the caller gets, built
        from fields already validated: no second validation per event."""
        if self.settled is not None:
            return SettledAck.model_construct(
                event_id=event_id, machine=machine, instance=instance, seq=self.seq,
                duplicate=self.duplicate, settled=self.settled, state=self.state)
        return Ack.model_construct(event_id=event_id, machine=machine, instance=instance,
                                   seq=self.seq, duplicate=self.duplicate)


@dataclass(frozen=True, slots=True)
class ReadGrant:
    """A caller's right to read an instance now: its public state, the instance's machine
    version, and whether `allow_read_history` grants it events as they were sent."""

    state: PublicState
    spec: MachineSpec
    history: bool


@dataclass(frozen=True, slots=True)
class UpgradeResult:
    seq: int
    from_version: str
    to_version: str
    upgraded: bool


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

    @property
    def busy(self) -> bool:
        """Whether some instance has operations queued or being applied."""
        return any(slot.task is not None for slot in self._slots.values())

    async def start(self) -> None:
        await self.store.open()
        await prepare(self.app, self.store, dev=self.dev)  # version check, index back-fill; may refuse
        if not self.store.is_sqlite:
            self.cluster = Cluster(self.store, notified=self.notified, resync=self.resync,
                                   claimed=self.workflow.claimed, lease=self.cluster_lease,
                                   node=self.node_id)
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
                self._rejected(op, exc)
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
        if slot is not None and notice.emitted:  # kept even with no subscriber yet: one
            # may be subscribing (loading the instance) and get this seq's update next
            slot.emitted_elsewhere.extend(notice.emitted)  # sent with their seq's update
            broadcast.emit_delivered(slot)
        if slot is None and notice.machine not in self.live.watched:
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
        loaded = await self._load(slot)
        if batch[0].kind in WRITES:
            await self._write(slot, batch)
        else:
            if self.cluster is not None and not loaded:
                await self._up_to_date(slot)
            await self._read(slot, batch[0])

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
                self._rejected(op, error)
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
                async with self._loads:
                    stored = await self.store.load(slot.machine, slot.instance)
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
        seq = await self.store.current_seq(slot.machine, slot.instance)
        if seq is not None and (slot.state is None or seq > slot.state.seq):
            await self._refresh(slot)

    async def _refresh(self, slot: Slot, since: int | None = None) -> None:
        """Catch the cached instance up with the database: deliver each transition another
        process committed after the cached seq to the subscribers, in seq order and
        projected per reader, and tell the live queries (`since`: the seq before the first
        new one, when the instance is not cached)."""
        before = slot.state
        watched = slot.machine in self.live.watched
        rows: list[LogRow] | None = None
        async with self._loads:
            if before is not None and (slot.subscribers or watched):  # one round trip
                stored, rows = await self.store.catch_up(slot.machine, slot.instance, before.seq)
            else:
                stored = await self.store.load(slot.machine, slot.instance)
        if stored is None or (before is not None and stored.seq <= before.seq):
            broadcast.emit_delivered(slot)
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
        broadcast.emit_delivered(slot)  # late ones for seqs already sent go first, in order
        emitted = emits.by_event_seq(slot.emitted_elsewhere)
        sent = {step.row.seq for step in steps}
        slot.emitted_elsewhere = [(seq, event) for seq, event in slot.emitted_elsewhere
                                  if seq not in sent]
        now = time.time()
        for step in steps:
            if step.snapshot is None:
                continue
            slot.spec = step.spec
            public = (logged_state(slot, step.row) if as_logged
                      else public_state(slot, step.snapshot, step.row.seq))
            broadcast.broadcast(slot, step.snapshot, public)
            for event in emitted.get(step.row.seq, ()):
                broadcast.emit(slot, step.snapshot, step.row.seq, event, now)
        slot.spec, slot.state = spec, after
        broadcast.emit_delivered(slot)
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
                await self._flush(slot, self._apply(slot, batch, dict(seen)))
                return
            except WriteConflict:
                continue
        error = StatesyncError(ErrorCode.INTERNAL, "too much contention; nothing applied, resend")
        for op in batch:
            op.answer(error)
            self._rejected(op, error)

    async def _write_fenced(self, slot: Slot, batch: list[Op], ids: list[str]) -> None:
        """`_write` under the instance's row lock (`Store.fenced`): caught up with every
        commit before it, applied, and committed in that transaction."""
        async with self._fences, self.store.fenced(slot.machine, slot.instance) as fence:
            _, seen = await asyncio.gather(
                self._refresh(slot), self.store.applied(slot.machine, slot.instance, ids))
            await self._prepare(slot)
            await self._flush(slot, self._apply(slot, batch, dict(seen)), fence.commit)

    async def _prepare(self, slot: Slot) -> None:
        """Read what a write needs and the cache may lack: the parent link, the live timers
        and services (after another process's commit)."""
        if slot.parent is UNKNOWN and slot.state is not None:
            slot.parent = await self.workflow.parent_of(slot.machine, slot.instance)
        if slot.live_stale:
            async with self._loads:
                slot.live = await self.workflow.load_live(slot.machine, slot.instance)
            slot.live_stale = False

    def _apply(self, slot: Slot, batch: list[Op], seen: dict[str, int]) -> Work:
        work = Work(slot.state)
        slot.spec = self._spec_of(slot.machine, slot.state)
        for op in batch:
            try:
                if op.kind == "send":
                    self._send(slot, work, op, seen)
                elif op.kind == "upgrade":
                    self._upgrade(slot, work, op)
                else:
                    self._create(slot, work, op)
            except StatesyncError as exc:
                work.answers.append((op, exc))
            except UnknownActorError as exc:  # send_to / forward_to a child id there is not
                work.answers.append((op, StatesyncError(ErrorCode.INVALID_EVENT, str(exc))))
            except Exception:  # its text may hold private data: logged here, never sent
                log.exception("error in application code for %s/%s", op.machine, op.instance)
                error = StatesyncError(ErrorCode.INTERNAL,
                                       "error in application code (see the server log)")
                work.answers.append((op, error))
        return work

    def _send(self, slot: Slot, work: Work, op: Op, seen: dict[str, Any]) -> None:
        if op.ref is not None:
            self._internal(slot, work, op, seen)
            return
        assert op.event is not None and op.event_id is not None
        if work.state is None:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        spec, snapshot = slot.spec, work.state.snapshot
        subject = op.claims.get("sub")
        prior = seen.get(op.event_id, slot.recent.get(op.event_id))
        if prior is not None and prior[1] == subject:  # the sender's own resend
            work.answers.append((op, SendResult(prior[0], True)))
            return
        if len(self.app.versions.get(slot.machine, ())) > 1:  # the instance's version's schemas
            op.event = spec.validate_event(op.event)
        access = Access(op.claims, slot.machine, slot.instance, snapshot.value, snapshot.context, op.event)
        # origin `admin`: an operator's event through the admin routes (admin credential checked)
        if op.origin != "admin" and not spec.allow_write(access):
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to send {op.event['type']!r}")
        if prior is not None:  # another writer's event id: answered only once authorized
            work.answers.append((op, SendResult(prior[0], True)))
            return
        sender = Sender.client(op.claims)
        if snapshot.status != "active" or not spec.machine.can(snapshot, op.event, sender):
            raise StatesyncError(ErrorCode.EVENT_NOT_ACCEPTED, _refusal(spec, snapshot, op.event))
        snapshot, actions = spec.machine.transition(snapshot, op.event, sender)
        seq = work.state.seq + 1
        self._record(slot, work, op, snapshot, seq, op.event)
        self._plan(slot, work, seq, actions)
        work.state = Committed(work.state.version, snapshot, seq)
        seen[op.event_id] = work.applied[op.event_id] = (seq, subject)
        work.answers.append((op, SendResult(seq, False)))

    def _internal(self, slot: Slot, work: Work, op: Op, seen: dict[str, Any]) -> None:
        """An event from a timer, an invoked service or another instance (see workflow.py):
        consumed in the same commit as its transition; dropped if no longer wanted (a
        cancelled timer, the late result of a stopped service); ignored (not logged) if the
        machine does not take it."""
        ref, batch = op.ref, self._batch(slot, work)
        assert op.event is not None and op.event_id is not None
        prior = seen.get(op.event_id, slot.recent.get(op.event_id))
        if prior is not None:
            work.answers.append((op, SendResult(prior[0], True)))
            return
        if work.state is None:
            if ref.key is not None:
                batch.finish(ref.key, "failed", f"not-found: no instance {slot.instance!r}")
            elif ref.timer_id is not None:
                batch.write.timer_ops[(slot.machine, slot.instance, ref.timer_id)] = None
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        if not batch.consume(ref):
            work.answers.append((op, SendResult(work.state.seq, True)))
            return
        spec, snapshot = slot.spec, work.state.snapshot
        if ref.kind == "timer" and op.event["type"] == DELIVER:  # a delayed send_to fired
            self.workflow.deliver(batch, op.event)
            work.answers.append((op, SendResult(work.state.seq, False)))
            return
        if ref.kind == "stop":
            self._stop_child(slot, work, op, snapshot, batch)
            return
        # another instance's message is authorized (a child's end is no message; a machine's
        # send_to(SELF) is its own)
        from_itself = ref.key is not None and ref.key[:2] == (slot.machine, slot.instance)
        if op.origin == "instance" and ref.kind == "message" and not from_itself:
            access = Access(op.claims, slot.machine, slot.instance, snapshot.value,
                            snapshot.context, op.event, False, "instance", ref.key[:2])
            if not spec.allow_write(access):
                batch.finish(ref.key, "failed", f"forbidden: not allowed to send {op.event['type']!r}")
                raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to send {op.event['type']!r}")
        try:
            after, actions = spec.machine.transition(snapshot, op.event, _internal_sender(op))
        except Exception as exc:
            log.exception("error in application code for %s/%s", op.machine, op.instance)
            if ref.key is not None:
                batch.finish(ref.key, "failed", f"error in application code: {exc!r}")
            raise StatesyncError(ErrorCode.INVALID_EVENT, f"error in application code: {exc!r}") from None
        if after is snapshot and not actions:
            if ref.kind == "message":
                batch.finish(ref.key, "ignored",
                             f"{op.event['type']!r} not accepted in state {_show(snapshot.value)}")
            work.answers.append((op, SendResult(work.state.seq, False)))
            return
        seq = work.state.seq + 1
        try:
            self._record(slot, work, op, after, seq, op.event)
            self._plan(slot, work, seq, actions)
        except Exception as exc:  # an application bug: fail this delivery for good
            log.exception("error in application code for %s/%s", op.machine, op.instance)
            if ref.key is not None:
                batch.finish(ref.key, "failed", f"error in application code: {exc!r}")
            raise StatesyncError(ErrorCode.INVALID_EVENT, f"error in application code: {exc!r}") from None
        work.state = Committed(work.state.version, after, seq)
        seen[op.event_id] = work.applied[op.event_id] = (seq, op.claims.get("sub"))
        work.answers.append((op, SendResult(seq, False)))

    def _stop_child(self, slot: Slot, work: Work, op: Op, snapshot: Any, batch: Batch) -> None:
        """The parent stops this child instance (children.py): one logged transition to
        status `stopped`; its timers, services and own children are stopped with it."""
        parent, sender = slot.parent, op.ref.key[:2]
        if not isinstance(parent, children.ParentLink) or sender != (parent.machine, parent.instance):
            batch.finish(op.ref.key, "failed", "forbidden: only its parent stops a child instance")
            raise StatesyncError(ErrorCode.FORBIDDEN, "only its parent stops a child instance")
        assert work.state is not None
        if snapshot.status != "active":  # it ended first: nothing to stop
            work.answers.append((op, SendResult(work.state.seq, False)))
            return
        after, seq = children.stopped(snapshot), work.state.seq + 1
        self._record(slot, work, op, after, seq, op.event)
        self.workflow.plan_stop(slot.spec, batch, seq)
        work.state = Committed(work.state.version, after, seq)
        work.applied[op.event_id] = (seq, op.claims.get("sub"))
        work.answers.append((op, SendResult(seq, False)))

    def _batch(self, slot: Slot, work: Work) -> Batch:
        if work.batch is None:
            work.batch = self.workflow.batch(slot.machine, slot.instance, slot.live)
            work.batch.parent = slot.parent if slot.parent is not UNKNOWN else None
        return work.batch

    def _plan(self, slot: Slot, work: Work, seq: int, actions: list[Any]) -> None:
        """Timers, outbox rows and messages for a transition's actions (same commit); emitted
        events and log lines wait for the commit (emits.py). A child instance's transition that
        ends it also tells its parent (children.py)."""
        parent = slot.parent
        if (isinstance(parent, children.ParentLink) and work.log and work.log[-1].seq == seq
                and work.log[-1].status in ("done", "error")
                and (work.state is None or work.state.snapshot.status == "active")):
            event = children.ended_event(parent.child_id, work.updates[-1][0])
            actions = [*actions, Action(children.ACTOR_DONE, {"event": event})]
        elif (isinstance(parent, children.ParentLink) and work.log and work.log[-1].seq == seq
                and work.log[-1].status == "active" and children.wants_snapshots(self.app, parent)):
            event = children.snapshot_event(parent.child_id, work.updates[-1][0])
            actions = [*actions, Action(children.ACTOR_SNAPSHOT, {"event": event})]
        if not actions:
            return
        actions, notices = emits.split(actions)
        try:
            if actions:
                self.workflow.plan(slot.spec, self._batch(slot, work), seq, actions)
        except Exception:  # cannot be carried out (e.g. a message that is not JSON): undo
            if work.log and work.log[-1].seq == seq:
                work.log.pop()
                work.updates.pop()
                work.ops.pop()
                if work.checkpoints and work.checkpoints[-1][0] == seq:
                    work.checkpoints.pop()
            raise
        work.notices.extend((seq, action) for action in notices)

    def _spec_of(self, machine: str, state: Committed | None) -> MachineSpec:
        if state is None:
            return self.app.spec(machine)
        return self.app.version_spec(machine, state.version)

    def _upgrade(self, slot: Slot, work: Work, op: Op) -> None:
        """Move the instance to another machine version: one logged transition."""
        if work.state is None:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        target = op.version or self.app.spec(slot.machine).version
        version = work.state.version
        if version == target:
            work.answers.append((op, UpgradeResult(work.state.seq, version, target, False)))
            return
        plan = plan_upgrade(self.app, slot.machine, version, work.state.snapshot, target,
                            op.timer_dues)
        slot.spec = self.app.version_spec(slot.machine, target)
        seq = work.state.seq + 1
        self._record(slot, work, op, plan.snapshot, seq, plan.event)
        work.log[-1].origin = "upgrade"
        # plan.actions (timer cancels/starts, service stops/starts) are carried out like a
        # transition's actions.
        self._plan(slot, work, seq, plan.actions)
        work.state = Committed(target, plan.snapshot, seq)
        work.answers.append((op, UpgradeResult(seq, version, target, True)))

    def _create(self, slot: Slot, work: Work, op: Op) -> None:
        spec = slot.spec
        for_parent = op.ref is not None and op.ref.kind == "child"
        if not for_parent:  # first: whether it exists is not revealed
            children.refuse_reserved(slot.instance)
        if for_parent and work.state is not None and slot.parent != self._parent_link(op):
            raise StatesyncError(ErrorCode.ALREADY_EXISTS,
                                 f"{slot.instance!r} already exists (not this parent's child)")
        if work.state is not None and op.ref is not None:  # create_instance: it exists
            self._batch(slot, work).consume(op.ref)
            state = public_state(slot, work.state.snapshot, work.state.seq)
            work.answers.append((op, CreateResult(state, True)))
            return
        if work.state is not None:
            if not privacy.may_read(slot.spec, op.claims, slot.instance, work.state.snapshot):
                # as if it did not exist and the caller may not create it: nothing revealed
                raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to create {slot.instance!r}")
            if op.if_exists == "error":
                raise StatesyncError(ErrorCode.ALREADY_EXISTS, f"{slot.instance!r} already exists")
            state = public_state(slot, work.state.snapshot, work.state.seq, op.claims)
            work.answers.append((op, CreateResult(state, True)))
            return
        sender = op.ref.key[:2] if op.ref is not None else None
        creator = Sender(instance=sender, origin="instance") if sender else Sender.client(op.claims)
        op.input = spec.validate_input(op.input)
        snapshot, actions = _start(spec, op.input, creator)
        event = {"type": "xstate.init", "input": op.input}
        access = Access(
            op.claims, slot.machine, slot.instance, snapshot.value, snapshot.context, event, True,
            op.origin, sender,
        )
        if not spec.allow_write(access):
            if op.ref is not None and op.ref.kind != "child":  # a child's parent hears of it
                self._batch(slot, work).finish(op.ref.key, "failed", "forbidden")
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to create {slot.instance!r}")
        if for_parent:
            slot.parent = self._parent_link(op)
            self._batch(slot, work).parent = slot.parent
        if op.ref is not None:
            self._batch(slot, work).consume(op.ref)
        self._record(slot, work, op, snapshot, 0, event)
        self._plan(slot, work, 0, actions)
        work.state = Committed(spec.version, snapshot, 0)
        work.insert = True
        public = public_state(slot, snapshot, 0, op.claims)
        work.answers.append((op, CreateResult(public, False)))

    @staticmethod
    def _parent_link(op: Op) -> children.ParentLink:
        """The parent of the child instance a `child` creation `op` makes."""
        assert op.ref is not None and op.ref.key is not None and op.ref.child is not None
        return children.ParentLink(op.ref.key[0], op.ref.key[1], op.ref.child, op.ref.sync_snapshot)

    def _record(
        self, slot: Slot, work: Work, op: Op, snapshot: Any, seq: int, event: dict[str, Any]
    ) -> None:
        if slot.spec.indexes:  # before anything is recorded: refused, `work` is unchanged
            check_indexable(slot.spec.indexes, snapshot.context)
        public = public_state(slot, snapshot, seq)
        work.log.append(
            LogRow(
                seq, event, op.event_id, op.origin, op.claims.get("sub"), public.value, public.tags,
                public.context, public.status, self.clock.time(),
            )
        )
        work.updates.append((snapshot, public))
        work.ops.append(op)
        # A machine that reads the sender is checkpointed at every transition: the log keeps
        # only the sender's subject, so replaying its events could not give the same result.
        if (seq % CHECKPOINT_EVERY == 0 or event["type"] in (UPGRADE, children.STOP_EVENT)
                or slot.spec.machine.reads_sender):  # a stop is no transition a replay could redo
            work.checkpoints.append((seq, slot.spec.version, snapshot.to_dict()))

    async def _flush(self, slot: Slot, work: Work,
                     commit: Callable[[InstanceWrite], Awaitable[None]] | None = None) -> None:
        """Commit `work` (through the group committer, or `commit`), then answer its
        operations and broadcast its updates."""
        commit = commit or self.committer.commit
        side = work.batch.side() if work.batch is not None else None
        before = slot.state
        if not work.log and side is not None:  # e.g. a timer whose event was not taken
            await commit(self.workflow.side_only(side))
        if work.log:
            assert work.state is not None
            await commit(
                InstanceWrite(
                    slot.machine, slot.instance, work.state.version,
                    work.state.snapshot.to_dict(), work.state.seq, work.state.snapshot.status,
                    work.insert, work.log,
                    indexes=index_changes(self.app, slot.machine, slot.state, work.state,
                                          work.insert),
                    checkpoints=work.checkpoints,
                    workflow=side,
                    emitted=[(seq, action.params["event"]) for seq, action in work.notices
                             if action.type == emits.EMIT] if self.cluster and work.notices else None,
                )
            )
            slot.state = work.state
            self._applied(slot, work)
            if work.insert:
                self._missing.pop((slot.machine, slot.instance), None)
            slot.recent.update(work.applied)
            while len(slot.recent) > _RECENT_IDS:
                del slot.recent[next(iter(slot.recent))]
        if work.batch is not None:
            slot.live = work.batch.live
            self.workflow.committed(side)
        for op, result in work.answers:
            if op.settle and isinstance(result, SendResult):
                task = asyncio.create_task(self._answer_settled(op, result))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)
            else:
                op.answer(result)
                if isinstance(result, StatesyncError):
                    self._rejected(op, result)
        notices = emits.by_seq(work.notices) if work.notices else None
        for snapshot, public in work.updates:
            broadcast.broadcast(slot, snapshot, public)
            if notices and public.seq in notices:
                broadcast.notices(slot, snapshot, public.seq, notices[public.seq])
        if work.log and slot.machine in self.live.watched:
            self.live.committed(slot.machine, slot.instance, before, slot.state)

    def _applied(self, slot: Slot, work: Work) -> None:
        """Count and log the transitions of `work`, now durable."""
        self.metrics.applied(slot.machine, [row.origin for row in work.log])
        if logs.transitions.isEnabledFor(logging.DEBUG):
            now = time.perf_counter()
            for row, op in zip(work.log, work.ops):
                logs.transition(slot.machine, slot.instance, row.seq, row.event["type"],
                                row.origin, row.value, now - op.received)

    def _rejected(self, op: Op, error: StatesyncError) -> None:
        """Count and log a write answered with `error`."""
        self.metrics.rejected(error.code.value)
        if logs.rejections.isEnabledFor(logging.DEBUG):
            kind = {"create": "xstate.init", "upgrade": UPGRADE}.get(op.kind)
            event_type = kind or str((op.event or {}).get("type"))
            logs.rejected(op.machine, op.instance, event_type, op.origin, error.code.value,
                          time.perf_counter() - op.received)

    async def _answer_settled(self, op: Op, result: SendResult) -> None:
        """Answer a send made with `settle` once the instance's effects are done."""
        settled = await self.workflow.wait_settled(op.machine, op.instance, self.settle_timeout)
        try:
            state = await self.run(Op("get", op.machine, op.instance, op.claims))
        except StatesyncError:
            state = None
        op.answer(SendResult(result.seq, result.duplicate, settled, state))

    async def _read(self, slot: Slot, op: Op) -> None:
        """Operations that read committed state: get, subscribe, unsubscribe."""
        if op.kind == "unsubscribe":
            slot.subscribers.pop(op.subscriber, None)  # type: ignore[arg-type]
            op.answer(None)
            return
        try:
            if slot.state is None:
                raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
            state = self._readable(slot, op.claims, slot.state)
        except StatesyncError as exc:
            op.answer(exc)
            return
        if op.kind == "get":
            if op.grant:
                snapshot = slot.state.snapshot
                history = privacy.may_read_history(slot.spec, op.claims, slot.instance, snapshot)
                state = ReadGrant(state, slot.spec, history)
            op.answer(state)
            return
        subscriber = op.subscriber
        assert subscriber is not None
        if subscriber.closed:
            return
        op.answer(state.seq)
        broadcast.emit_delivered(slot)  # late events of seqs up to this one: not for this subscriber
        if op.since is None or op.since >= state.seq:
            slot.subscribers[subscriber] = None
            if op.since is None:
                subscriber.deliver(Update.model_construct(**dict(state)).model_dump_json())
            return
        catchup = slot.subscribers[subscriber] = Catchup(HELD_BYTES)
        task = asyncio.create_task(self._catch_up(slot, subscriber, catchup, op.since, state.seq))
        self._catchups.add(task)
        task.add_done_callback(self._catchups.discard)

    async def _catch_up(self, slot: Slot, subscriber: Subscriber, catchup: Catchup,
                        since: int, upto: int) -> None:
        """Send a subscriber the updates after `since` up to `upto` that it could read at
        their seq, then what was committed meanwhile (see replay.py)."""
        reader = subscriber.claims

        def current() -> bool:
            return slot.subscribers.get(subscriber) is catchup and not subscriber.closed

        try:
            while since < upto and current():
                steps, scanned = await readable_steps(
                    self.app, self.store, reader, slot.machine, slot.instance, since,
                    min(REPLAY_PAGE, upto - since))
                for step in steps:
                    if not await subscriber.writable() or not current():
                        return
                    subscriber.deliver(update_text(slot, step, reader))
                if scanned == since:
                    break  # the log ends here
                since = scanned
            if current():
                for text in catchup.held:
                    subscriber.deliver(text)
                slot.subscribers[subscriber] = None
        except Exception as exc:
            if is_outage(exc):
                self.store.outage.failed(exc)
                error = StatesyncError(ErrorCode.UNAVAILABLE,
                                       "the database is unavailable; subscribe again with since")
            else:
                log.exception("replay failed for %s/%s", slot.machine, slot.instance)
                error = StatesyncError(ErrorCode.INTERNAL, "replay failed; subscribe again")
            if current():
                del slot.subscribers[subscriber]
                subscriber.lost(slot.machine, slot.instance, error)

    def _readable(self, slot: Slot, claims: Mapping[str, Any], state: Committed) -> PublicState:
        if not privacy.may_read(slot.spec, claims, slot.instance, state.snapshot):
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to read {slot.instance!r}")
        return public_state(slot, state.snapshot, state.seq, claims)

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


class _InputProbe(dict):  # type: ignore[type-arg]
    """A creation input that notes the first field read from it (`input[key]`) that it lacks."""

    missing: Any = None

    def __missing__(self, key: Any) -> Any:
        if self.missing is None:
            self.missing = key
        raise KeyError(key)


def _start(spec: MachineSpec, input: Any, creator: Sender) -> tuple[Any, list[Any]]:
    """The machine's initial transition on a creation input; a field the machine reads from
    it (`input[key]`) and the input lacks is the caller's error (`invalid-event` naming it),
    not the app's; any other KeyError stays the app's (answered without its text)."""
    try:
        return spec.machine.initial_transition(input, creator)
    except KeyError as exc:
        key = exc.args[0] if exc.args else None
        if not isinstance(key, str) or not isinstance(input, dict) or key in input:
            raise
        probe = _InputProbe(input)  # the same start again, noting what it misses in the input
        try:
            spec.machine.initial_transition(probe, creator)
        except KeyError:
            pass
        if probe.missing != key:  # the app's own KeyError: its text may be private data
            raise
        raise StatesyncError(ErrorCode.INVALID_EVENT, (
            f"input: no field {key!r} (the machine reads it as it starts; "
            "App.register(..., input_model=...) checks the input first)")) from None


def _refusal(spec: MachineSpec, snapshot: Any, event: Mapping[str, Any]) -> str:
    """Why `event` was not taken: no transition for it here, or their guards said no."""
    kind, state = event["type"], _show(snapshot.value)
    if snapshot.status != "active":
        return f"{kind!r} is not accepted: the instance is {snapshot.status}"
    if spec.machine.handles(snapshot, kind):
        return f"{kind!r} is handled in state {state}, but the guards of its transitions refused it"
    return f"{kind!r} is not accepted in state {state} (no transition for it there)"


def _internal_sender(op: Op) -> Sender:
    """The `Sender` of an event from a timer, a service or another instance."""
    if op.origin == "instance":
        return Sender(instance=op.ref.key[:2], origin="instance")
    return Sender(origin=op.origin)


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
