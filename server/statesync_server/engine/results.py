"""What the engine answers its callers: a creation's state, a send's seq (and, with `settle`,
its settled state), an upgrade's versions, a read grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_core import to_json

from ..app import MachineSpec
from ..protocol import Ack, PublicState, SettledAck


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

    def ack_json(self, event_id: str, machine: str, instance: str) -> str:
        """`ack(...).model_dump_json()`, built without a model (once per event)."""
        if self.settled is not None:
            return self.ack(event_id, machine, instance).model_dump_json()
        return to_json({"type": "ack", "event_id": event_id, "machine": machine,
                        "instance": instance, "seq": self.seq, "duplicate": self.duplicate},
                       inf_nan_mode="null").decode()

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
