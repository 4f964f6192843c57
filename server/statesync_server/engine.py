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
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .app import Access, App, MachineSpec
from .errors import ErrorCode, StatesyncError
from .groupcommit import GroupCommitter
from .history import CHECKPOINT_EVERY
from .indexes import index_changes
from .migrations import UPGRADE, plan_upgrade
from .protocol import Ack, PublicState, SettledAck, Update
from .store import InstanceWrite, LogRow, Store, WriteConflict
from .versions import prepare
from .workflow import RESERVED_EVENT_ID, Batch, Workflow

log = logging.getLogger("statesync")

_WRITES = ("create", "send", "upgrade")
_RECENT_IDS = 1024  # event ids remembered per cached instance, to answer resends cheaply
_REPLAY_PAGE = 1000  # log rows read at a time when a subscriber catches up

Reply = Callable[[Any], None]
"""Receives the operation's result, or a `StatesyncError`."""


class Subscriber(Protocol):
    """A receiver of updates (a WebSocket connection)."""

    claims: Mapping[str, Any]
    closed: bool

    def deliver(self, text: str) -> None:
        """Queue an already serialized server message; must not block."""

    def lost(self, machine: str, instance: str, error: StatesyncError) -> None:
        """The server ended this subscription (read no longer allowed, token expired)."""


@dataclass(slots=True)
class Op:
    """One request for an instance, answered through `reply`."""

    kind: Literal["create", "send", "get", "subscribe", "unsubscribe", "upgrade"]
    machine: str
    instance: str
    claims: Mapping[str, Any]
    reply: Reply = lambda _result: None
    event: dict[str, Any] | None = None
    event_id: str | None = None
    input: Any = None
    if_exists: Literal["error", "get"] = "error"
    since: int | None = None
    subscriber: Subscriber | None = None
    version: str | None = None  # upgrade: the target version (None: the current one)
    origin: str = "client"  # the event log's origin: client, timer, service, instance
    ref: Any = None  # a workflow.Ref for events from timers, services and other instances
    settle: bool = False  # send: answer once no effect of the instance is pending
    answered: bool = False

    def answer(self, result: Any) -> None:
        if not self.answered:
            self.answered = True
            self.reply(result)


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
class UpgradeResult:
    seq: int
    from_version: str
    to_version: str
    upgraded: bool


@dataclass(slots=True)
class _Committed:
    version: str
    snapshot: Any
    seq: int


@dataclass(slots=True)
class _Slot:
    machine: str
    instance: str
    spec: MachineSpec
    ops: list[Op] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    loaded: bool = False
    state: _Committed | None = None
    subscribers: dict[Subscriber, None] = field(default_factory=dict)
    recent: dict[str, int] = field(default_factory=dict)
    live: Any = None  # workflow.Live: its timers and invoked services still wanted


@dataclass(slots=True)
class _Work:
    """Transitions applied in memory and not yet committed."""

    state: _Committed | None
    insert: bool = False
    log: list[LogRow] = field(default_factory=list)
    applied: dict[str, int] = field(default_factory=dict)
    answers: list[tuple[Op, Any]] = field(default_factory=list)
    updates: list[tuple[Any, PublicState]] = field(default_factory=list)
    checkpoints: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    batch: Batch | None = None  # timers, outbox rows (workflow.py)


class Engine:
    """Applies operations to instances; the only writer of instance state."""

    def __init__(self, app: App, store: Store, *, cache_size: int = 10_000) -> None:
        self.app = app
        self.store = store
        self.committer = GroupCommitter(store)
        self.cache_size = cache_size
        self._slots: OrderedDict[tuple[str, str], _Slot] = OrderedDict()
        self._stopping = False
        self.workflow = Workflow(self)
        self.settle_timeout = 30.0
        self._settling: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.store.open()
        await prepare(self.app, self.store)  # version check, index back-fill; may refuse
        self.committer.start()
        await self.workflow.start()

    async def stop(self) -> None:
        """Finish queued operations, commit, close the database."""
        self._stopping = True
        await self.workflow.stop()
        for task in list(self._settling):
            task.cancel()
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.committer.stop()
        await self.store.close()

    # --- entry points ---------------------------------------------------------------------

    def submit(self, op: Op) -> None:
        """Queue `op` behind the instance's earlier operations; never raises."""
        try:
            if self._stopping:
                raise StatesyncError(ErrorCode.INTERNAL, "server is shutting down")
            spec = self.app.spec(op.machine)
            if op.kind == "send" and op.ref is None:
                assert op.event is not None
                if len(self.app.versions.get(op.machine, ())) <= 1:  # else: by its version
                    op.event = spec.validate_event(op.event)
                if op.event_id is not None and op.event_id.startswith(RESERVED_EVENT_ID):
                    raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                                         f"event ids starting with {RESERVED_EVENT_ID!r} are reserved")
        except StatesyncError as exc:
            op.answer(exc)
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

    async def log(
        self, claims: Mapping[str, Any], machine: str, instance: str, since: int, limit: int
    ) -> list[LogRow]:
        """The event log after `since`, for a caller allowed to read the instance."""
        await self.run(Op("get", machine, instance, claims))
        return await self.store.log(machine, instance, since, limit)

    # --- the worker -----------------------------------------------------------------------

    def _slot(self, spec: MachineSpec, instance: str) -> _Slot:
        key = (spec.name, instance)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot(spec.name, instance, spec)
        else:
            self._slots.move_to_end(key)
        return slot

    async def _drain(self, slot: _Slot) -> None:
        try:
            while slot.ops:
                batch = _take(slot.ops)
                try:
                    await self._load(slot)
                    if batch[0].kind in _WRITES:
                        await self._write(slot, batch)
                    else:
                        await self._read(slot, batch[0])
                except Exception:
                    log.exception("failed to process %s/%s", slot.machine, slot.instance)
                    slot.loaded, slot.state = False, None
                    error = StatesyncError(ErrorCode.INTERNAL, "internal error; nothing applied")
                    for op in batch:
                        op.answer(error)
        finally:
            slot.task = None
            self._evict()

    async def _load(self, slot: _Slot) -> None:
        if not slot.loaded:
            stored = await self.store.load(slot.machine, slot.instance)
            if stored is not None:
                slot.spec = self.app.version_spec(slot.machine, stored.version)
                snapshot = slot.spec.machine.restore(stored.snapshot)
                slot.state = _Committed(stored.version, snapshot, stored.seq)
                slot.live = await self.workflow.load_live(slot.machine, slot.instance)
            else:
                slot.live = None
            slot.recent.clear()
            slot.loaded = True

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
            slot.state = _Committed(row.version, snapshot, row.seq)
            slot.loaded = True

    async def _write(self, slot: _Slot, batch: list[Op]) -> None:
        """Apply and commit a run of creates and sends.

        Event ids are assumed new unless seen since the instance was loaded; the database's
        uniqueness rule catches the rest (a resend after a restart), and then the batch is
        redone knowing which ids were applied. Nothing is answered before the commit.
        """
        try:
            await self._flush(slot, self._apply(slot, batch, {}))
        except WriteConflict:
            ids = [op.event_id for op in batch if op.event_id is not None]
            applied = await self.store.applied(slot.machine, slot.instance, ids)
            await self._flush(slot, self._apply(slot, batch, applied))

    def _apply(self, slot: _Slot, batch: list[Op], seen: dict[str, int]) -> _Work:
        work = _Work(slot.state)
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
            except Exception as exc:
                log.exception("error in application code for %s/%s", op.machine, op.instance)
                error = StatesyncError(ErrorCode.INTERNAL, f"error in application code: {exc!r}")
                work.answers.append((op, error))
        return work

    def _send(self, slot: _Slot, work: _Work, op: Op, seen: dict[str, int]) -> None:
        if op.ref is not None:
            self._internal(slot, work, op, seen)
            return
        assert op.event is not None and op.event_id is not None
        if work.state is None:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        prior = seen.get(op.event_id, slot.recent.get(op.event_id))
        if prior is not None:
            work.answers.append((op, SendResult(prior, True)))
            return
        spec, snapshot = slot.spec, work.state.snapshot
        if len(self.app.versions.get(slot.machine, ())) > 1:  # the instance's version's schemas
            op.event = spec.validate_event(op.event)
        access = Access(op.claims, slot.machine, slot.instance, snapshot.value, snapshot.context, op.event)
        if not spec.allow_write(access):
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to send {op.event['type']!r}")
        if not spec.machine.can(snapshot, op.event):
            raise StatesyncError(
                ErrorCode.EVENT_NOT_ACCEPTED,
                f"{op.event['type']!r} is not accepted in state {_show(snapshot.value)}",
            )
        snapshot, actions = spec.machine.transition(snapshot, op.event)
        seq = work.state.seq + 1
        self._record(slot, work, op, snapshot, seq, op.event)
        self._plan(slot, work, seq, actions)
        work.state = _Committed(work.state.version, snapshot, seq)
        seen[op.event_id] = work.applied[op.event_id] = seq
        work.answers.append((op, SendResult(seq, False)))

    def _internal(self, slot: _Slot, work: _Work, op: Op, seen: dict[str, int]) -> None:
        """An event from a timer, an invoked service or another instance (see workflow.py):
        consumed in the same commit as its transition; dropped if no longer wanted (a
        cancelled timer, the late result of a stopped service); ignored (not logged) if the
        machine does not take it."""
        ref, batch = op.ref, self._batch(slot, work)
        assert op.event is not None and op.event_id is not None
        prior = seen.get(op.event_id, slot.recent.get(op.event_id))
        if prior is not None:
            work.answers.append((op, SendResult(prior, True)))
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
        if op.origin == "instance":
            access = Access(op.claims, slot.machine, slot.instance, snapshot.value,
                            snapshot.context, op.event, False, "instance", ref.key[:2])
            if not spec.allow_write(access):
                batch.finish(ref.key, "failed", f"forbidden: not allowed to send {op.event['type']!r}")
                raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to send {op.event['type']!r}")
        try:
            after, actions = spec.machine.transition(snapshot, op.event)
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
        work.state = _Committed(work.state.version, after, seq)
        seen[op.event_id] = work.applied[op.event_id] = seq
        work.answers.append((op, SendResult(seq, False)))

    def _batch(self, slot: _Slot, work: _Work) -> Batch:
        if work.batch is None:
            work.batch = self.workflow.batch(slot.machine, slot.instance, slot.live)
        return work.batch

    def _plan(self, slot: _Slot, work: _Work, seq: int, actions: list[Any]) -> None:
        """Timers, outbox rows and messages for a transition's actions (same commit)."""
        if not actions:
            return
        try:
            self.workflow.plan(slot.spec, self._batch(slot, work), seq, actions)
        except Exception:  # cannot be carried out (e.g. a message that is not JSON): undo
            if work.log and work.log[-1].seq == seq:
                work.log.pop()
                work.updates.pop()
                if work.checkpoints and work.checkpoints[-1][0] == seq:
                    work.checkpoints.pop()
            raise

    def _spec_of(self, machine: str, state: _Committed | None) -> MachineSpec:
        if state is None:
            return self.app.spec(machine)
        return self.app.version_spec(machine, state.version)

    def _upgrade(self, slot: _Slot, work: _Work, op: Op) -> None:
        """Move the instance to another machine version: one logged transition."""
        if work.state is None:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        target = op.version or self.app.spec(slot.machine).version
        version = work.state.version
        if version == target:
            work.answers.append((op, UpgradeResult(work.state.seq, version, target, False)))
            return
        plan = plan_upgrade(self.app, slot.machine, version, work.state.snapshot, target)
        slot.spec = self.app.version_spec(slot.machine, target)
        seq = work.state.seq + 1
        self._record(slot, work, op, plan.snapshot, seq, plan.event)
        work.log[-1].origin = "upgrade"
        # plan.actions (timer cancels/starts, service stops/starts) are carried out like a
        # transition's actions.
        self._plan(slot, work, seq, plan.actions)
        work.state = _Committed(target, plan.snapshot, seq)
        work.answers.append((op, UpgradeResult(seq, version, target, True)))

    def _create(self, slot: _Slot, work: _Work, op: Op) -> None:
        spec = slot.spec
        if work.state is not None and op.ref is not None:  # create_instance: it exists
            self._batch(slot, work).consume(op.ref)
            state = _public_state(slot, work.state.snapshot, work.state.seq)
            work.answers.append((op, CreateResult(state, True)))
            return
        if work.state is not None:
            if op.if_exists == "error":
                raise StatesyncError(ErrorCode.ALREADY_EXISTS, f"{slot.instance!r} already exists")
            state = self._readable(slot, op.claims, work.state)
            work.answers.append((op, CreateResult(state, True)))
            return
        snapshot, actions = spec.machine.initial_transition(op.input)
        event = {"type": "xstate.init", "input": op.input}
        sender = op.ref.key[:2] if op.ref is not None else None
        access = Access(
            op.claims, slot.machine, slot.instance, snapshot.value, snapshot.context, event, True,
            op.origin, sender,
        )
        if not spec.allow_write(access):
            if op.ref is not None:
                self._batch(slot, work).finish(op.ref.key, "failed", "forbidden")
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to create {slot.instance!r}")
        if op.ref is not None:
            self._batch(slot, work).consume(op.ref)
        public = self._record(slot, work, op, snapshot, 0, event)
        self._plan(slot, work, 0, actions)
        work.state = _Committed(spec.version, snapshot, 0)
        work.insert = True
        work.answers.append((op, CreateResult(public, False)))

    def _record(
        self, slot: _Slot, work: _Work, op: Op, snapshot: Any, seq: int, event: dict[str, Any]
    ) -> PublicState:
        public = _public_state(slot, snapshot, seq)
        work.log.append(
            LogRow(
                seq, event, op.event_id, op.origin, op.claims.get("sub"), public.value, public.tags,
                public.context, public.status, time.time(),
            )
        )
        work.updates.append((snapshot, public))
        if seq % CHECKPOINT_EVERY == 0 or event["type"] == UPGRADE:
            work.checkpoints.append((seq, slot.spec.version, snapshot.to_dict()))
        return public

    async def _flush(self, slot: _Slot, work: _Work) -> None:
        """Commit `work`, then answer its operations and broadcast its updates."""
        side = work.batch.side() if work.batch is not None else None
        if not work.log and side is not None:  # e.g. a timer whose event was not taken
            await self.committer.commit(self.workflow.side_only(side))
        if work.log:
            assert work.state is not None
            await self.committer.commit(
                InstanceWrite(
                    slot.machine, slot.instance, work.state.version,
                    work.state.snapshot.to_dict(), work.state.seq, work.state.snapshot.status,
                    work.insert, work.log,
                    indexes=index_changes(self.app, slot.machine, slot.state, work.state,
                                          work.insert),
                    checkpoints=work.checkpoints,
                    workflow=side,
                )
            )
            slot.state = work.state
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
        for snapshot, public in work.updates:
            self._broadcast(slot, snapshot, public)

    async def _answer_settled(self, op: Op, result: SendResult) -> None:
        """Answer a send made with `settle` once the instance's effects are done."""
        settled = await self.workflow.wait_settled(op.machine, op.instance, self.settle_timeout)
        try:
            state = await self.run(Op("get", op.machine, op.instance, op.claims))
        except StatesyncError:
            state = None
        op.answer(SendResult(result.seq, result.duplicate, settled, state))

    async def _read(self, slot: _Slot, op: Op) -> None:
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
            op.answer(state)
            return
        subscriber = op.subscriber
        assert subscriber is not None
        if subscriber.closed:
            return
        slot.subscribers[subscriber] = None
        op.answer(state.seq)
        if op.since is None:
            subscriber.deliver(Update.model_construct(**dict(state)).model_dump_json())
        else:
            since = op.since
            while since < state.seq:  # replay what was missed, a page at a time
                rows = await self.store.log(slot.machine, slot.instance, since, _REPLAY_PAGE)
                for row in rows:
                    subscriber.deliver(_update_from_row(slot, row))
                since = rows[-1].seq if rows else state.seq

    def _readable(self, slot: _Slot, claims: Mapping[str, Any], state: _Committed) -> PublicState:
        snapshot = state.snapshot
        access = Access(claims, slot.machine, slot.instance, snapshot.value, snapshot.context)
        if not slot.spec.allow_read(access):
            raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to read {slot.instance!r}")
        return _public_state(slot, snapshot, state.seq)

    def _broadcast(self, slot: _Slot, snapshot: Any, public: PublicState) -> None:
        if not slot.subscribers:
            return
        text = Update.model_construct(**dict(public)).model_dump_json()
        now = time.time()
        for subscriber in list(slot.subscribers):
            error = None
            claims = subscriber.claims
            if subscriber.closed:
                del slot.subscribers[subscriber]
                continue
            if claims.get("exp", now) < now:
                error = StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired")
            else:
                access = Access(claims, slot.machine, slot.instance, snapshot.value, snapshot.context)
                try:
                    allowed = slot.spec.allow_read(access)
                except Exception:
                    log.exception("allow_read failed for %s/%s", slot.machine, slot.instance)
                    allowed = False
                if not allowed:
                    error = StatesyncError(ErrorCode.FORBIDDEN, "no longer allowed to read")
            if error is None:
                subscriber.deliver(text)
            else:
                del slot.subscribers[subscriber]
                subscriber.lost(slot.machine, slot.instance, error)

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


def _take(ops: list[Op]) -> list[Op]:
    """The next unit of work: the leading run of writes, or one read."""
    count = 1
    if ops[0].kind in _WRITES:
        while count < len(ops) and ops[count].kind in _WRITES:
            count += 1
    batch = ops[:count]
    del ops[:count]
    return batch


def _public_state(slot: _Slot, snapshot: Any, seq: int) -> PublicState:
    status = snapshot.status
    return PublicState.model_construct(  # built here from trusted values: no validation
        machine=slot.machine,
        instance=slot.instance,
        seq=seq,
        value=snapshot.value,
        tags=sorted(snapshot.tags),
        context=slot.spec.public_context(snapshot.context),
        status=status,
        done=status == "done",
    )


def _update_from_row(slot: _Slot, row: LogRow) -> str:
    return Update.model_construct(
        machine=slot.machine, instance=slot.instance, seq=row.seq, value=row.value,
        tags=row.tags, context=row.public, status=row.status, done=row.status == "done",
    ).model_dump_json()


def _show(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
