"""Rebase reconciliation: confirmed server state + pending local events = visible state.

Pure bookkeeping, no I/O. With a machine definition, pending events are replayed through
`machine.transition` on the confirmed state restored as a snapshot (optimistic view); the
returned actions (effects, timers, messages) are ignored: only the server carries them out.
Without one, the visible state is the confirmed state.

Each pending event keeps the snapshot predicted after it. When an update confirms the oldest
pending events and equals the prediction (the usual case: nobody else wrote in between), the
later predictions still hold and nothing is replayed; otherwise everything is replayed.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..machine import Machine
from ..sender import Sender
from ..snapshot import Snapshot
from .state import State

log = logging.getLogger("statesync.client")
_warned: set[tuple[str, object]] = set()
"""(machine, event type) pairs whose optimistic failure was logged (once each)."""


@dataclass(slots=True)
class Pending:
    """An event sent (or waiting to be sent) and not yet confirmed by an update."""

    event_id: str
    event: dict[str, Any]
    seq: int | None = None  # from the ack: the seq of the transition it produced
    predicted: Snapshot | None = None  # the optimistic snapshot after this event


class Reconciler:
    """Keeps `confirmed` and `pending` for one instance and computes the visible `State`."""

    def __init__(self, machine: Machine | None = None,
                 sender: Callable[[], Sender] | None = None) -> None:
        self.machine = machine
        self.sender = sender or Sender
        """The local user, as the `sender` of the pending events' optimistic transitions."""
        self.confirmed: State | None = None
        self.pending: OrderedDict[str, Pending] = OrderedDict()
        """By event id, in send order (an `OrderedDict`: MicroPython's dicts keep no order)."""
        self.visible: State | None = None

    def confirm(self, state: State) -> bool:
        """A server state arrived; False (and nothing changes) if it is not newer."""
        if self.confirmed is not None and state.seq <= self.confirmed.seq:
            return False
        self.confirmed = state
        done = [p for p in self.pending.values() if p.seq is not None and p.seq <= state.seq]
        for pending in done:
            del self.pending[pending.event_id]
        if done and self._predicted(done, state):
            self._show()
        else:
            self._rebase()
        return True

    def add(self, event_id: str, event: dict[str, Any]) -> None:
        """A new local event: apply it on top of the visible state at once."""
        pending = Pending(event_id, event)
        if self.machine is not None and self.confirmed is not None:
            pending.predicted = self._apply(self._top(), event)
        self.pending[event_id] = pending
        self._show()

    def ack(self, event_id: str, seq: int) -> Pending | None:
        """The server applied the event as transition `seq` (it stays until that update)."""
        pending = self.pending.get(event_id)
        if pending is None:
            return None
        pending.seq = seq
        if self.confirmed is not None and seq <= self.confirmed.seq:
            del self.pending[event_id]  # its update already arrived (replayed after a reconnect)
            self._rebase()
        return pending

    def reject(self, event_id: str) -> Pending | None:
        """The server refused the event: drop it and replay the rest."""
        pending = self.pending.pop(event_id, None)
        if pending is not None:
            self._rebase()
        return pending

    def snapshot(self) -> Snapshot | None:
        """The visible state as a snapshot of the machine (None without one or a state)."""
        if self.machine is None or self.confirmed is None:
            return None
        return self._top()

    def _predicted(self, done: list[Pending], state: State) -> bool:
        """Whether `done` were the oldest pending events and the server reached exactly the
        state predicted after the last of them (then later predictions still hold)."""
        last = done[-1]
        if last.seq != state.seq or last.predicted is None:
            return False
        if any(p.predicted is None for p in self.pending.values()):
            return False
        snapshot = last.predicted
        return (snapshot.value == state.value and snapshot.status == state.status
                and snapshot.context == state.context)

    def _rebase(self) -> None:
        """Visible = confirmed, restored as a snapshot, with the pending events replayed."""
        confirmed = self.confirmed
        if confirmed is None:
            return
        if self.machine is not None and self.pending:
            snapshot = self._restore(confirmed)
            for pending in self.pending.values():
                snapshot = pending.predicted = self._apply(snapshot, pending.event)
        self._show()

    def _top(self) -> Snapshot:
        """The newest predicted snapshot (the confirmed one when nothing is pending)."""
        if self.pending:
            # a list's last item: MicroPython cannot reverse a dict's values
            last = list(self.pending.values())[-1]
            if last.predicted is not None:
                return last.predicted
            self._rebase()
            return list(self.pending.values())[-1].predicted  # type: ignore[return-value]
        assert self.confirmed is not None
        return self._restore(self.confirmed)

    def _restore(self, state: State) -> Snapshot:
        assert self.machine is not None
        return self.machine.restore(
            {"value": state.value, "context": state.context, "status": state.status})

    def _apply(self, snapshot: Snapshot, event: dict[str, Any]) -> Snapshot:
        """One pending event through the pure machine; unchanged if it fails locally (a guard
        or action may need context the server keeps private: the server's answer decides)."""
        try:
            return self.machine.transition(snapshot, event, self.sender())[0]  # type: ignore[union-attr]
        except Exception as exc:  # noqa: BLE001 - application code; the server decides
            key = (self.machine.id, event.get("type"))  # type: ignore[union-attr]
            if key not in _warned:
                _warned.add(key)
                log.warning("%r of machine %r is not predicted locally (%r); it shows once the "
                            "server applies it. Does the machine read context the public "
                            "projection leaves out?", key[1], key[0], exc)
            return snapshot

    def _show(self) -> None:
        confirmed = self.confirmed
        if confirmed is None:
            return
        top = list(self.pending.values())[-1].predicted if self.pending else None
        if top is None:
            self.visible = State(confirmed.value, confirmed.tags, confirmed.context,
                                 confirmed.status, confirmed.seq, len(self.pending))
        else:
            self.visible = State(top.value, top.tags, top.context, top.status, confirmed.seq,
                                 len(self.pending))


def accepted_events(snapshot: Snapshot, sender: Sender | None = None) -> list[str]:
    """The event descriptors `snapshot` accepts, judged from the type alone: guards see an
    event without payload (and `sender`), and one that raises on it (it needs the payload,
    or context the server keeps private) counts as accepting: the server decides."""
    machine = snapshot.machine
    accepted = []
    for descriptor in machine.next_events(snapshot):
        try:
            if machine.can(snapshot, {"type": descriptor}, sender):
                accepted.append(descriptor)
        except Exception:  # noqa: BLE001 - application code; the server decides
            accepted.append(descriptor)
    return accepted
