"""Apply: a unit of writes run in memory, in arrival order, on the instance's committed
snapshot. Each creation, client send, internal event (a timer, a service's result, another
instance's message, a parent's stop) or upgrade is authorized (the machine's `allow_write`),
taken by the pure core, recorded as a log row with its public state, and its actions planned
(timers, outbox rows, emitted events: workflow.py, emits.py). A refused operation changes
nothing. Nothing here touches the database: the engine commits the resulting `Work`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from statesync import Sender, UnknownActorError
from statesync.actions import Action

from ..app import Access, App, MachineSpec
from ..errors import ErrorCode, StatesyncError
from ..migrations import UPGRADE, plan_upgrade
from ..ops import Op
from ..store import LogRow
from ..workflow import children
from ..workflow.clock import Clock
from ..workflow.workflow import DELIVER, Batch, Workflow
from . import emits, privacy
from .history import CHECKPOINT_EVERY
from .indexes import check_indexable
from .projection import public_state
from .results import CreateResult, SendResult, UpgradeResult
from .slots import UNKNOWN, Committed, Slot, Work

log = logging.getLogger("statesync")


class Applier:
    """Applies a slot's writes for the engine (its app, workflow runtime and clock)."""

    def __init__(self, app: App, workflow: Workflow, clock: Clock) -> None:
        self.app = app
        self.workflow = workflow
        self.clock = clock

    def apply(self, slot: Slot, batch: list[Op], seen: dict[str, int]) -> Work:
        """`batch` applied in arrival order to the slot's committed state, in memory."""
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
        taken = spec.machine.take(snapshot, op.event, sender)
        if taken is None:
            raise StatesyncError(ErrorCode.EVENT_NOT_ACCEPTED, _refusal(spec, snapshot, op.event))
        snapshot, actions = taken
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
        if notices and work.log and work.log[-1].seq == seq:
            work.log[-1].emitted = emits.stored(notices)

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
