"""Commit: a unit of work as one write of the store (`InstanceWrite`): the instance's new
state, its log rows (with the events each transition emitted), index changes, checkpoints and
workflow rows (timers, outbox).
"""

from __future__ import annotations

from typing import Any

from ..app import App
from ..store import InstanceWrite
from .indexes import index_changes
from .slots import Slot, Work


def instance_write(app: App, slot: Slot, work: Work, side: Any) -> InstanceWrite:
    """The write that commits `work` (applied to `slot`'s committed state) with the workflow
    rows `side`."""
    assert work.state is not None
    return InstanceWrite(
        slot.machine, slot.instance, work.state.version,
        work.state.snapshot.to_dict(), work.state.seq, work.state.snapshot.status,
        work.insert, work.log,
        indexes=index_changes(app, slot.machine, slot.state, work.state, work.insert),
        checkpoints=work.checkpoints,
        workflow=side,
    )
