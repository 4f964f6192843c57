"""The workflow runtime: what the engine does with the actions a transition returns.

`machine.transition` returns, in order, delayed raises and cancels (timers), spawns and
stops of invoked services, `send_to` / `create_instance` messages, and effects. The engine
hands them to `plan`, which turns them into timer and outbox rows of the same commit (a
`SideWrite`). Once that commit is durable, `committed` schedules the timers, starts the
effects and services, and queues the messages. What comes back (a timer's event, a
service's result, a message) is submitted to the receiving instance's ordered queue as an
operation with a `Ref`, which the engine applies with `consume` (is it still wanted?) and
records with its origin in the event log.

Settling: an instance is settled when none of its effects or services is pending.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, tuple_
from statesync.actions import (
    CANCEL,
    CREATE_INSTANCE,
    RAISE,
    SEND_PARENT,
    SEND_TO,
    SEND_TO_CHILD,
    SPAWN_CHILD,
    STOP_CHILD,
    Action,
)

from . import children
from .. import logs
from .effects import EffectRunner, Job
from ..errors import ErrorCode, StatesyncError
from ..limits import MAX_NAME, check_text
from .messages import Messenger
from ..ops import Op
from ..store.schema import instances, outbox, timers
from ..store.store import InstanceWrite, StoredInstance, dumps, loads
from ..store.workrows import OutboxKey, SideWrite, key_text
from .timers import Timer, TimerScheduler

if TYPE_CHECKING:
    from ..app import App, MachineSpec
    from ..store.cluster import Cluster
    from ..store.groupcommit import GroupCommitter
    from ..metrics import Metrics
    from ..store import Store

log = logging.getLogger("statesync.workflow")

_JOBS = ("effect", "service")
_TERMINAL = ("done", "failed", "cancelled", "ignored")


@dataclass(frozen=True, slots=True)
class Ref:
    """Why an internal operation exists: which timer fired, which job or message it carries."""

    kind: str
    """`timer`, `service`, `message` or `create`; for child instances (children.py) `child`
    (its creation), `actor` (its done / error event to the parent) and `stop`."""
    timer_id: str | None = None
    seq: int | None = None
    """For timers: the transition that started it."""
    key: OutboxKey | None = None
    """For services and messages: the outbox row."""
    child: str | None = None
    """For services, child creations and child results: the invoke id."""
    sync_snapshot: bool = False
    """For a child creation: spawned with `sync_snapshot` (children.ParentLink)."""
    status: str = "done"
    """For services: the row's status once the result is applied (done / failed)."""
    error: str | None = None
    attempts: int | None = None
    """For services: the runs it took (the row keeps its count when None)."""


@dataclass(slots=True)
class Live:
    """An instance's timers and invoked services that are still wanted (committed state)."""

    timers: dict[str, int] = field(default_factory=dict)
    """timer id -> seq of the transition that started it."""
    services: dict[str, OutboxKey] = field(default_factory=dict)
    """invoke id -> the outbox row of the current invocation (a service, or a child machine)."""
    children: dict[str, tuple[str, str]] = field(default_factory=dict)
    """invoke id -> (machine, instance) of a child instance still wanted (also in `services`)."""

    def copy(self) -> Live:
        return Live(dict(self.timers), dict(self.services), dict(self.children))

    def track_child(self, key: OutboxKey, machine: str, instance: str | None,
                    payload: Mapping[str, Any]) -> None:
        """A pending `child` outbox row: the child instance `instance` of `machine`."""
        self.services[payload["id"]] = key
        self.children[payload["id"]] = (machine, instance or "")


@dataclass(slots=True)
class Batch:
    """One instance's uncommitted workflow changes (the engine's unit of work)."""

    machine: str
    instance: str
    live: Live
    write: SideWrite = field(default_factory=SideWrite)
    finished: dict[OutboxKey, dict[str, Any]] = field(default_factory=dict)
    parent: children.ParentLink | None = None
    """For a child instance: its parent (where `send_parent` and its done event go)."""

    def finish(self, key: OutboxKey, status: str, error: str | None = None,
               attempts: int | None = None) -> None:
        self.finished[key] = {"key": key, "status": status, "error": error, "attempts": attempts}

    def side(self) -> SideWrite | None:
        self.write.outbox_set = list(self.finished.values())
        return self.write if self.write else None

    def consume(self, ref: Ref) -> bool:
        """Take the thing `ref` carries; False if it is no longer wanted (cancelled timer,
        stopped service: a late result is dropped)."""
        if ref.kind == "timer":
            assert ref.timer_id is not None
            if self.live.timers.get(ref.timer_id) != ref.seq:
                return False  # cancelled (its row is gone), or restarted: leave the new one
            del self.live.timers[ref.timer_id]
            self.write.timer_ops[(self.machine, self.instance, ref.timer_id)] = None
            return True
        assert ref.key is not None
        if ref.kind == "service":
            assert ref.child is not None
            if self.live.services.get(ref.child) != ref.key:
                return False
            del self.live.services[ref.child]
            self.live.children.pop(ref.child, None)
            self.finish(ref.key, ref.status, ref.error, ref.attempts)
            return True
        if ref.kind == "actor":  # a child instance ended: is it still this instance's child?
            assert ref.child is not None
            if self.live.children.get(ref.child) != ref.key[:2]:
                self.finish(ref.key, "ignored", "the child instance was stopped or replaced")
                return False
            del self.live.children[ref.child]
            self.finish(self.live.services.pop(ref.child), ref.status, ref.error)
        elif ref.kind == "snapshot":  # from a child instance: is it still this one's child?
            assert ref.child is not None
            if self.live.children.get(ref.child) != ref.key[:2]:
                self.finish(ref.key, "ignored", "the child instance was stopped or replaced")
                return False
        elif ref.kind == "child":  # the child exists: its row is `running` until it ends
            self.finish(ref.key, "running")
            return True
        self.finish(ref.key, "done")
        return True


DELIVER = "statesync.deliver"
"""The event of a delayed `send_to` / `send_parent` timer: firing it writes the message
(`Workflow.deliver`); it is no event of the machine and is not logged."""

RESERVED_EVENT_ID = "~"
"""Event ids starting with this are the server's (clients may not use them)."""


def event_id(prefix: str, text: str) -> str:
    """A log event id for an internal event (at most 128 characters): `~timer:...`."""
    full = f"{RESERVED_EVENT_ID}{prefix}:{text}"
    if len(full) <= 128:
        return full
    return f"{RESERVED_EVENT_ID}{prefix}:#{hashlib.sha256(text.encode()).hexdigest()}"


class EngineLink(Protocol):
    """What the workflow runtime uses of the engine above it: hand in operations, commit
    workflow rows, pre-load instances. (The engine is passed in; this module never imports it.)"""

    app: App
    store: Store
    committer: GroupCommitter
    cache_size: int
    cluster: Cluster | None
    metrics: Metrics

    def submit(self, op: Op) -> None: ...

    def warm(self, stored: Mapping[tuple[str, str], Any]) -> None: ...


class Workflow:
    """Owned by the engine: plans rows, and runs timers, jobs and messages after commit."""

    def __init__(self, engine: EngineLink, *, concurrency: int = 1000) -> None:
        self.engine = engine
        self.scheduler = TimerScheduler(self._fire, engine.clock)
        self.runner = EffectRunner(self, concurrency=concurrency)
        self.messenger = Messenger(self)
        self._pending: dict[tuple[str, str], set[OutboxKey]] = {}
        self._settle: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._running = False
        self._live: dict[tuple[str, str], Live] = {}
        """Committed timers and pending services per instance: all of them are in memory
        anyway (the scheduler, the runner), so loading an instance costs no query."""

    # --- lifecycle --------------------------------------------------------------------------

    @property
    def clustered(self) -> bool:
        """Whether other processes share the database (then they own some timers and jobs,
        and an instance's timers and services are read from the database, not memory)."""
        return self.engine.cluster is not None

    async def start(self) -> None:
        """Load every pending timer and outbox row; late timers fire at once, oldest first.
        In cluster mode only this process's own (left by its previous run under the same
        node id), then claim those of stopped processes; the others' are theirs."""
        timer_query, job_query = select(timers), select(outbox).where(outbox.c.status == "pending")
        if self.clustered:
            node = self.engine.cluster.node
            timer_query = timer_query.where(timers.c.owner == node)
            job_query = job_query.where(outbox.c.owner == node)
        async with self.engine.store._engine().connect() as conn:
            timer_rows = (await conn.execute(timer_query.order_by(timers.c.due, timers.c.seq))).all()
            job_rows = (await conn.execute(job_query.order_by(
                outbox.c.machine, outbox.c.instance, outbox.c.seq, outbox.c.idx))).all()
            running = [] if self.clustered else (await conn.execute(
                select(outbox).where(outbox.c.status == "running"))).all()
        for row in running:  # child instances (children.py): read with the parent in cluster mode
            self._live_of(row.machine, row.instance).track_child(
                (row.machine, row.instance, row.seq, row.idx), row.name, row.target, loads(row.payload))
        for row in timer_rows:
            self.scheduler.add(row.machine, row.instance, row.timer_id, row.seq, row.due,
                               loads(row.event))
            self._live_of(row.machine, row.instance).timers[row.timer_id] = row.seq
        for row in job_rows:
            key = (row.machine, row.instance, row.seq, row.idx)
            if row.kind == "service":
                self._live_of(row.machine, row.instance).services[row.target] = key
            elif row.kind == "child":
                self._live_of(row.machine, row.instance).track_child(key, row.name, row.target,
                                                                    loads(row.payload))
        self._running = True
        for row in job_rows:
            job = Job((row.machine, row.instance, row.seq, row.idx), row.kind, row.name,
                      row.target, loads(row.payload), row.attempts, row.next_at)
            self._dispatch(job)
        late = sum(1 for row in timer_rows if row.due <= self.engine.clock.time())
        await self._warm([(r.machine, r.instance) for r in timer_rows[:late]])
        if timer_rows or job_rows:
            log.info("workflow: %d pending timers (%d due), %d pending jobs and messages",
                     len(timer_rows), late, len(job_rows))
        self.scheduler.start()
        if self.clustered:
            await self.engine.cluster.claim_now(sweep=True)
        self._check_services()

    def _check_services(self) -> None:
        """Warn about invoked services with no implementation (they would fail at once)."""
        for spec in self.engine.app.machines.values():
            for node in getattr(spec.machine, "id_map", {}).values():
                for invoke in getattr(node, "invoke", ()):
                    try:
                        if children.child_machine(self.engine.app, spec, invoke["src"]):
                            continue
                    except StatesyncError as exc:
                        log.warning("%s", exc.message)
                        continue
                    if self.implementation(spec.name, "service", invoke["src"]) is None:
                        log.warning("machine %r invokes %r, which has no registered service",
                                    spec.name, invoke["src"])

    async def _warm(self, keys: list[tuple[str, str]]) -> None:
        """Read the instances of the late timers in bulk (oldest first, within the cache)."""
        wanted = list(dict.fromkeys(keys))[: self.engine.cache_size]
        found: dict[tuple[str, str], StoredInstance] = {}
        async with self.engine.store._engine().connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                query = select(instances).where(tuple_(instances.c.machine, instances.c.name).in_(chunk))
                for row in await conn.execute(query):
                    found[(row.machine, row.name)] = StoredInstance(
                        row.version, loads(row.snapshot), row.seq, row.status)
        self.engine.warm(found)

    async def stop(self) -> None:
        """Stop firing and running; whatever was not committed runs again on the next start."""
        self._running = False
        await self.scheduler.stop()
        await self.messenger.stop()
        await self.runner.stop()

    def spec_for(self, machine: str) -> MachineSpec | None:
        return self.engine.app.machines.get(machine)

    def implementation(self, machine: str, kind: str, name: str) -> Any:
        """The registered effect or service `name` of `machine` (current version first)."""
        app = self.engine.app
        specs = [app.machines.get(machine), *getattr(app, "versions", {}).get(machine, {}).values()]
        for spec in specs:
            table = (spec.effects if kind == "effect" else spec.services) if spec else None
            if table and name in table:
                return table[name]
        return None

    # --- the engine's side: load, plan, consume, committed ---------------------------------

    def _live_of(self, machine: str, instance: str) -> Live:
        live = self._live.get((machine, instance))
        if live is None:
            live = self._live[(machine, instance)] = Live()
        return live

    async def load_live(self, machine: str, instance: str) -> Live:
        """The instance's committed timers and pending services (a copy)."""
        if self.clustered:
            return await self._read_live(machine, instance)
        live = self._live.get((machine, instance)) or Live()
        return live.copy()

    async def _read_live(self, machine: str, instance: str) -> Live:
        timer_query = select(timers.c.timer_id, timers.c.seq).where(
            timers.c.machine == machine, timers.c.instance == instance)
        service_query = select(outbox.c.kind, outbox.c.name, outbox.c.target, outbox.c.seq,
                               outbox.c.idx, outbox.c.payload).where(
            outbox.c.machine == machine, outbox.c.instance == instance,
            outbox.c.kind.in_(("service", "child")), outbox.c.status.in_(("pending", "running")))
        async with self.engine.store._engine().connect() as conn:
            live = Live({row.timer_id: row.seq for row in await conn.execute(timer_query)})
            for row in await conn.execute(service_query):
                key = (machine, instance, row.seq, row.idx)
                if row.kind == "child":
                    live.track_child(key, row.name, row.target, loads(row.payload))
                else:
                    live.services[row.target] = key
        return live

    def batch(self, machine: str, instance: str, live: Live | None = None) -> Batch:
        """A unit of work starting from the committed timers and services (in cluster mode,
        `live`: those the engine read with the instance)."""
        if not self.clustered or live is None:
            live = self._live.get((machine, instance)) or Live()
        return Batch(machine, instance, live.copy())

    async def parent_of(self, machine: str, instance: str) -> children.ParentLink | None:
        """The parent of a child instance (children.py); None for any other instance."""
        if children.SEPARATOR not in instance:
            return None
        first = await self.engine.store.log(machine, instance, -1, 1)
        parent = children.parent_from_log(self.engine.app, instance, first[0] if first else None)
        if parent is None:
            return None
        query = select(outbox.c.payload).where(  # the row that created it: spawned with sync_snapshot?
            outbox.c.machine == parent.machine, outbox.c.instance == parent.instance,
            outbox.c.kind == "child", outbox.c.name == machine, outbox.c.target == instance)
        async with self.engine.store._engine().connect() as conn:
            row = (await conn.execute(query)).first()
        if row is not None and loads(row.payload).get("syncSnapshot"):
            parent = children.ParentLink(parent.machine, parent.instance, parent.child_id, True)
        return parent

    async def earlier_messages(self, job: Job) -> list[Job]:
        """The pending messages of `job`'s (sender, receiver) pair committed before it, oldest
        first, whichever process owns them (cluster mode)."""
        machine, instance, seq, idx = job.key
        query = (
            select(outbox).where(
                outbox.c.machine == machine, outbox.c.instance == instance,
                outbox.c.kind.in_(("message", "create", "child")), outbox.c.name == job.name,
                outbox.c.target == job.target, outbox.c.status == "pending",
                tuple_(outbox.c.seq, outbox.c.idx) < tuple_(seq, idx))
            .order_by(outbox.c.seq, outbox.c.idx)
        )
        async with self.engine.store._engine().connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Job((r.machine, r.instance, r.seq, r.idx), r.kind, r.name, r.target,
                    loads(r.payload), r.attempts, r.next_at) for r in rows]

    def claimed(self, timer_rows: list[Any], job_rows: list[Any]) -> None:
        """Cluster mode: run the timers and jobs this process took over from stopped ones
        (late timers oldest first: by due time, then by the transition that started them)."""
        for row in sorted(timer_rows, key=lambda row: (row.due, row.seq)):
            self.scheduler.add(row.machine, row.instance, row.timer_id, row.seq, row.due,
                               loads(row.event))
        for row in job_rows:
            job = Job((row.machine, row.instance, row.seq, row.idx), row.kind, row.name,
                      row.target, loads(row.payload), row.attempts, row.next_at)
            self._dispatch(job)

    def plan(self, spec: MachineSpec, batch: Batch, seq: int, actions: list[Any]) -> None:
        """Turn a transition's actions into rows of the same commit. All or nothing: on an
        error (say, a message that is not JSON) the batch is left as it was."""
        if not actions:
            return
        machine, instance = batch.machine, batch.instance
        timers_live, services_live = dict(batch.live.timers), dict(batch.live.services)
        children_live = dict(batch.live.children)
        actions = _spawns_first(actions)
        timer_ops: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        new: list[dict[str, Any]] = []
        stopped: list[OutboxKey] = []
        now = self.engine.clock.time()
        for idx, action in enumerate(actions):
            kind, params = action.type, action.params or {}
            key = (machine, instance, seq, idx)
            if kind == RAISE:
                if params["event"].get("type") == DELIVER:  # only `plan` writes deliveries
                    raise StatesyncError(ErrorCode.INVALID_EVENT, f"{DELIVER!r} is reserved")
                timer_id = params.get("id") or f"raise.{seq}.{idx}"
                due = params.get("due")  # an upgrade's renamed timer keeps its due time
                if due is None:
                    due = now + max(float(params.get("delay") or 0), 0.0) / 1000
                timers_live[timer_id] = seq
                timer_ops[(machine, instance, timer_id)] = {
                    "machine": machine, "instance": instance, "timer_id": timer_id, "seq": seq,
                    "event": dumps(params["event"]), "due": due, "created_at": now,
                }
            elif kind == CANCEL:
                timers_live.pop(params["id"], None)
                timer_ops[(machine, instance, params["id"])] = None
            elif kind == SPAWN_CHILD:
                services_live[params["id"]] = key
                child_machine = children.child_machine(self.engine.app, spec, params["src"])
                if child_machine is not None:  # a child instance (children.py)
                    child = children.instance_name(instance, params["id"], seq)
                    children_live[params["id"]] = (child_machine, child)
                    payload = {"id": params["id"], "input": params.get("input")}
                    if params.get("syncSnapshot"):
                        payload["syncSnapshot"] = True
                    new.append(_row(key, "child", child_machine, child, payload, now))
                    continue
                payload = {"input": params.get("input"), "event": action.event,
                           "context": action.context}
                new.append(_row(key, "service", params["src"], params["id"], payload, now))
            elif kind == STOP_CHILD:
                invocation = services_live.pop(params["id"], None)
                if invocation is not None:
                    stopped.append(invocation)
                target = children_live.pop(params["id"], None)
                if target is not None:
                    new.append(_row(key, "message", *target,
                                    {"event": {"type": children.STOP_EVENT}, "stop": True}, now))
            elif kind in (SEND_TO_CHILD, SEND_PARENT) and params.get("delay") is not None:
                # a delayed send_to / send_parent: a durable timer of this instance whose firing
                # writes the message (`deliver`); cancel(sendId) removes it like a delayed raise
                target = self._recipient(batch, children_live, kind, params)
                if target is None:
                    continue
                timer_id = params.get("sendId") or f"send.{seq}.{idx}"
                due = now + max(float(params["delay"]), 0.0) / 1000
                delivery = {"type": DELIVER, "seq": seq, "idx": idx, "target": list(target),
                            "child": params.get("id") if params.get("to") is None else None,
                            "payload": _message_payload(kind, params, batch.parent)}
                timers_live[timer_id] = seq
                timer_ops[(machine, instance, timer_id)] = {
                    "machine": machine, "instance": instance, "timer_id": timer_id, "seq": seq,
                    "event": dumps(delivery), "due": due, "created_at": now,
                }
            elif kind == SEND_TO_CHILD:
                target = self._recipient(batch, children_live, kind, params)
                if target is not None:
                    new.append(_row(key, "message", *target, {"event": params["event"]}, now))
            elif kind in (SEND_PARENT, children.ACTOR_DONE, children.ACTOR_SNAPSHOT):
                parent = batch.parent
                if parent is None:
                    raise StatesyncError(ErrorCode.INVALID_EVENT,
                                         f"send_parent(): {machine}/{instance} has no parent instance")
                payload = _message_payload(kind, params, parent)
                new.append(_row(key, "message", parent.machine, parent.instance, payload, now))
            elif kind == SEND_TO:
                new.append(_row(key, "message", *_target(params), {"event": params["event"]}, now))
            elif kind == CREATE_INSTANCE:
                new.append(_row(key, "create", *_target(params), {"input": params.get("input")},
                                now))
            elif kind in (spec.effects or {}) or self.implementation(machine, "effect", kind):
                payload = {"params": params, "event": action.event, "context": action.context}
                new.append(_row(key, "effect", kind, None, payload, now))
            elif (spec.name, kind) not in self._warned:
                self._warned.add((spec.name, kind))
                log.warning("machine %r: effect %r has no implementation; it is skipped",
                            spec.name, kind)
        batch.live.timers, batch.live.services = timers_live, services_live
        batch.live.children = children_live
        batch.write.timer_ops.update(timer_ops)
        batch.write.outbox_new.extend(new)
        for invocation in stopped:
            batch.finish(invocation, "cancelled", "the invoking state was left")

    @staticmethod
    def _recipient(batch: Batch, children_live: Mapping[str, tuple[str, str]], kind: str,
                   params: Mapping[str, Any]) -> tuple[str, str] | None:
        """The instance a `send_to` / `send_parent` goes to: a child instance, this instance
        (`SELF`) or the parent; None (logged, not sent) for a service, a child that has ended,
        or a systemId (the server keeps no system registry)."""
        machine, instance = batch.machine, batch.instance
        if kind == SEND_PARENT:
            if batch.parent is None:
                raise StatesyncError(ErrorCode.INVALID_EVENT,
                                     f"send_parent(): {machine}/{instance} has no parent instance")
            return batch.parent.machine, batch.parent.instance
        to = params.get("to")
        if to == "self":
            return machine, instance
        if to == "system":
            log.warning("%s/%s: send_to(system.get(%r)): the server keeps no system registry; "
                        "not sent", machine, instance, params["id"])
            return None
        target = children_live.get(params["id"])
        if target is None:  # a service, or a child that has ended: nobody to tell
            log.warning("%s/%s: send_to(%r): no child instance by that id; not sent",
                        machine, instance, params["id"])
        return target

    def deliver(self, batch: Batch, delivery: Mapping[str, Any]) -> None:
        """A delayed send's timer fired (it is consumed in this batch): its message, keyed by
        the transition and action that sent it. A child stopped or replaced since then gets
        nothing (as XState, whose delayed event goes to the actor it named)."""
        target = tuple(delivery["target"])
        child = delivery.get("child")
        if child is not None and batch.live.children.get(child) != target:
            log.info("%s/%s: a delayed send_to(%r) fired after that child ended; not sent",
                     batch.machine, batch.instance, child)
            return
        key = (batch.machine, batch.instance, delivery["seq"], delivery["idx"])
        now = self.engine.clock.time()
        batch.write.outbox_new.append(_row(key, "message", target[0], target[1], delivery["payload"], now))

    def plan_stop(self, spec: MachineSpec, batch: Batch, seq: int) -> None:
        """A child instance its parent stopped: cancel all its timers, stop its services and
        its own children (transition `seq`, status `stopped`)."""
        actions = [Action(CANCEL, {"id": timer_id}) for timer_id in batch.live.timers]
        actions += [Action(STOP_CHILD, {"id": child}) for child in batch.live.services]
        self.plan(spec, batch, seq, actions)

    def committed(self, side: SideWrite | None) -> None:
        """After `side` is durable: schedule, start, queue, cancel, and count what settles."""
        if side is None:
            return
        for (machine, instance, timer_id), row in side.timer_ops.items():
            if row is None:
                self.scheduler.remove((machine, instance, timer_id))
                live = self._live.get((machine, instance))
                if live is not None:
                    live.timers.pop(timer_id, None)
                    self._forget_if_empty(machine, instance, live)
                continue
            self._live_of(machine, instance).timers[timer_id] = row["seq"]
            if self._running:
                self.scheduler.add(machine, instance, timer_id, row["seq"], row["due"],
                                   loads(row["event"]))
        for row in side.outbox_new:
            key = (row["machine"], row["instance"], row["seq"], row["idx"])
            payload = loads(row["payload"])
            if row["kind"] == "service":
                self._live_of(key[0], key[1]).services[row["target"]] = key
            elif row["kind"] == "child":
                self._live_of(key[0], key[1]).track_child(key, row["name"], row["target"], payload)
            job = Job(key, row["kind"], row["name"], row["target"], payload, 0, row["next_at"])
            self._dispatch(job)
        for change in side.outbox_set:
            if change["status"] not in _TERMINAL:
                continue
            key = change["key"]
            if change["status"] == "cancelled":
                self.runner.cancel(key)
            live = self._live.get(key[:2])
            if live is not None:
                for child, invocation in list(live.services.items()):
                    if invocation == key:
                        del live.services[child]
                        live.children.pop(child, None)
                self._forget_if_empty(key[0], key[1], live)
            pending = self._pending.get(key[:2])
            if pending is not None and key in pending:
                pending.discard(key)
                if not pending:
                    del self._pending[key[:2]]
                    for future in self._settle.pop(key[:2], []):
                        if not future.done():
                            future.set_result(None)

    def _forget_if_empty(self, machine: str, instance: str, live: Live) -> None:
        if not live.timers and not live.services:
            self._live.pop((machine, instance), None)

    def dispatch(self, job: Job) -> None:
        """Run a job whose pending row is committed (an operator's retry: failed_work.py)."""
        self._dispatch(job)

    def _dispatch(self, job: Job) -> None:
        if job.kind in _JOBS:
            self._pending.setdefault((job.machine, job.instance), set()).add(job.key)
            if self._running:
                self.runner.start(job)
        elif self._running:
            self.messenger.enqueue(job)

    # --- settling -----------------------------------------------------------------------------

    def settled(self, machine: str, instance: str) -> bool:
        return (machine, instance) not in self._pending

    async def wait_settled(self, machine: str, instance: str, timeout: float) -> bool:
        """Wait until no effect or service of the instance is pending; False on timeout."""
        if self.settled(machine, instance):
            return True
        future = asyncio.get_running_loop().create_future()
        self._settle.setdefault((machine, instance), []).append(future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False

    def pending_counts(self) -> dict[str, int]:
        return {"timers": len(self.scheduler), "jobs": self.runner.running,
                "messages": self.messenger.pending}

    # --- what comes back --------------------------------------------------------------------

    def _fire(self, timer: Timer) -> None:
        lateness = self.engine.clock.time() - timer.due
        self.engine.metrics.timer_lateness.observe(lateness)
        if logs.timers.isEnabledFor(logging.DEBUG):
            logs.timer_fired(timer.machine, timer.instance, timer.seq, timer.timer_id,
                             str(timer.event.get("type")), lateness)
        op = Op("send", timer.machine, timer.instance, {"sub": timer.timer_id},
                event=timer.event, event_id=event_id("timer", f"{timer.seq}:{timer.timer_id}"))
        op.origin, op.ref = "timer", Ref("timer", timer_id=timer.timer_id, seq=timer.seq)

        def reply(result: Any) -> None:
            failed = isinstance(result, StatesyncError) and result.code == ErrorCode.INTERNAL
            if failed and self._running:  # not applied: try again shortly
                self.scheduler.add(timer.machine, timer.instance, timer.timer_id, timer.seq,
                                   self.engine.clock.time() + 1.0, timer.event)

        op.reply = reply
        self.engine.submit(op)

    async def job_succeeded(self, job: Job, result: Any) -> None:
        if job.kind == "effect":
            await self._commit_side(job, "done", None, job.attempts)
            return
        event = {"type": f"xstate.done.actor.{job.target}", "output": result}
        await self._deliver_result(job, event, Ref("service", key=job.key, child=job.target,
                                                   attempts=job.attempts))

    async def job_failed(self, job: Job, error: str) -> None:
        if job.kind == "effect":
            await self._commit_side(job, "failed", error, job.attempts)
            return
        event = {"type": f"xstate.error.actor.{job.target}", "error": {"message": error}}
        ref = Ref("service", key=job.key, child=job.target, status="failed", error=error,
                  attempts=job.attempts)
        await self._deliver_result(job, event, ref)

    async def job_retrying(self, job: Job, error: str) -> None:
        side = SideWrite(outbox_set=[{"key": job.key, "status": "pending", "error": error,
                                      "attempts": job.attempts, "next_at": job.next_at}])
        await self._commit(side)

    async def _commit_side(self, job: Job, status: str, error: str | None,
                           attempts: int | None = None) -> None:
        await self._commit(SideWrite(outbox_set=[{"key": job.key, "status": status,
                                                  "error": error, "attempts": attempts}]))

    @staticmethod
    def side_only(side: SideWrite) -> InstanceWrite:
        """A write of workflow rows with no transition (the store skips the instance row)."""
        write = InstanceWrite("", "", "", None, -1, "", False)  # type: ignore[arg-type]
        write.workflow = side
        return write

    async def _commit(self, side: SideWrite) -> None:
        """A write of workflow rows only (no transition), retried until it commits."""
        delay = 0.05
        while True:
            try:
                await self.engine.committer.commit(self.side_only(side))
            except Exception:
                log.exception("could not record an outbox change; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self.committed(side)
            return

    async def _deliver_result(self, job: Job, event: dict[str, Any], ref: Ref) -> None:
        claims = {"sub": f"{job.name}#{job.target}"}
        delay = 0.05
        while True:
            op = Op("send", job.machine, job.instance, claims, event=event,
                    event_id=event_id("service", f"{job.key[2]}/{job.key[3]}"))
            op.origin, op.ref = "service", ref
            result = await self._run(op)
            if not (isinstance(result, StatesyncError) and result.code == ErrorCode.INTERNAL):
                if isinstance(result, StatesyncError):  # e.g. the machine is gone
                    await self._commit_side(job, "failed", f"{result.code}: {result.message}")
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def deliver_message(self, job: Job) -> bool:
        """Apply one message to its receiver; False to retry it later (nothing applied)."""
        sender = f"{job.machine}/{job.instance}"
        claims = {"sub": sender, "machine": job.machine, "instance": job.instance}
        target = job.target or ""
        ref = _message_ref(job)
        if job.kind in ("create", "child"):
            op = Op("create", job.name, target, claims, input=job.payload.get("input"),
                    if_exists="get")
        else:
            op = Op("send", job.name, target, claims, event=job.payload["event"],
                    event_id=event_id("msg", key_text(job.key)))
        op.origin, op.ref = "instance", ref
        result = await self._run(op)
        if isinstance(result, StatesyncError):
            if result.code == ErrorCode.INTERNAL:
                return False
            log.warning("message %s -> %s/%s not delivered: %s", key_text(job.key), job.name,
                        target, result.message)
            if job.kind == "child":  # the parent hears of it as its child's error, once
                error = f"{result.code}: {result.message}"
                event = {"type": f"xstate.error.actor.{ref.child}", "error": {"message": error},
                         "actorId": ref.child}
                await self._deliver_result(job, event, Ref("service", key=job.key, child=ref.child,
                                                           status="failed", error=error))
                return True
            await self._commit_side(job, "failed", f"{result.code}: {result.message}")
        return True

    async def _run(self, op: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        op.reply = lambda result: future.done() or future.set_result(result)
        self.engine.submit(op)
        return await future


def _spawns_first(actions: list[Any]) -> list[Any]:
    """`actions` with each spawn moved before an earlier `send_to` of its id (a state's entry
    actions may send to its invoked child before it is spawned, as in XState, where the
    event waits for the child to start): the child's creation is delivered first."""
    spawned = {a.params["id"]: a for a in actions if a.type == SPAWN_CHILD}
    if not spawned:
        return actions
    ordered: list[Any] = []
    placed: set[int] = set()
    for action in actions:
        if action.type == SEND_TO_CHILD:
            spawn = spawned.get(action.params["id"])
            if spawn is not None and id(spawn) not in placed:
                placed.add(id(spawn))
                ordered.append(spawn)
        elif action.type == SPAWN_CHILD:
            if id(action) in placed:
                continue
            placed.add(id(action))
        ordered.append(action)
    return ordered


def _message_ref(job: Job) -> Ref:
    """The `Ref` a delivered message carries (children.py: a child's creation, its end, its stop)."""
    if job.kind == "child":
        return Ref("child", key=job.key, child=job.payload["id"],
                   sync_snapshot=bool(job.payload.get("syncSnapshot")))
    if "actor" in job.payload:
        failed = job.payload["event"]["type"].startswith("xstate.error.actor.")
        return Ref("actor", key=job.key, child=job.payload["actor"],
                   status="failed" if failed else "done",
                   error="the child instance failed" if failed else None)
    if "snapshot_of" in job.payload:
        return Ref("snapshot", key=job.key, child=job.payload["snapshot_of"])
    if job.payload.get("stop"):
        return Ref("stop", key=job.key)
    return Ref(job.kind, key=job.key)


def _message_payload(kind: str, params: Mapping[str, Any],
                     parent: children.ParentLink | None) -> dict[str, Any]:
    """A message row's payload: the event, and for a child's end or snapshot which child."""
    payload = {"event": params["event"]}
    if kind == children.ACTOR_DONE:
        payload["actor"] = parent.child_id
    elif kind == children.ACTOR_SNAPSHOT:
        payload["snapshot_of"] = parent.child_id
    return payload


def _target(params: Mapping[str, Any]) -> tuple[str, str]:
    """(machine, instance) a message goes to; `invalid-event` for the sending transition when
    no database could store the names (limits.py)."""
    machine, instance = (check_text(str(params[part]), f"a message's target {part}", MAX_NAME,
                                    code=ErrorCode.INVALID_EVENT) for part in ("machine", "instance"))
    return machine, instance


def _row(key: OutboxKey, kind: str, name: str, target: str | None, payload: Mapping[str, Any],
         now: float) -> dict[str, Any]:
    return {
        "machine": key[0], "instance": key[1], "seq": key[2], "idx": key[3], "kind": kind,
        "name": name, "target": target, "payload": dumps(payload), "status": "pending",
        "attempts": 0, "next_at": now, "error": None, "created_at": now, "updated_at": now,
    }
