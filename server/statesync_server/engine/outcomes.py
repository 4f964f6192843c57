"""What became of each write, counted (metrics.py) and logged (logs.py): the transitions a
commit made durable, and the writes answered with an error.
"""

from __future__ import annotations

import logging
import time

from .. import logs
from ..errors import StatesyncError
from ..metrics import Metrics
from ..migrations import UPGRADE
from ..ops import Op
from .slots import Slot, Work


def applied(metrics: Metrics, slot: Slot, work: Work) -> None:
    """Count and log the transitions of `work`, now durable."""
    metrics.applied(slot.machine, [row.origin for row in work.log])
    if logs.transitions.isEnabledFor(logging.DEBUG):
        now = time.perf_counter()
        for row, op in zip(work.log, work.ops):
            logs.transition(slot.machine, slot.instance, row.seq, row.event["type"],
                            row.origin, row.value, now - op.received)


def rejected(metrics: Metrics, op: Op, error: StatesyncError) -> None:
    """Count and log a write answered with `error`."""
    metrics.rejected(error.code.value)
    if logs.rejections.isEnabledFor(logging.DEBUG):
        kind = {"create": "xstate.init", "upgrade": UPGRADE}.get(op.kind)
        event_type = kind or str((op.event or {}).get("type"))
        logs.rejected(op.machine, op.instance, event_type, op.origin, error.code.value,
                      time.perf_counter() - op.received)
