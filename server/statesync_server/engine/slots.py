"""The engine's per-instance state: a cached instance's slot (its queue, committed state and
subscribers), the transitions a unit of work applied before they commit, and the unit of work
itself (a run of writes, or one read).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..app import MachineSpec
from ..ops import Op, Subscriber
from ..protocol import PublicState
from ..store import LogRow
from ..workflow.workflow import Batch
from .replay import Catchup

WRITES = ("create", "send", "upgrade")
UNKNOWN: Any = object()  # Slot.parent not read yet


@dataclass(slots=True)
class Committed:
    version: str
    snapshot: Any
    seq: int


@dataclass(slots=True)
class Slot:
    machine: str
    instance: str
    spec: MachineSpec
    ops: list[Op] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    loaded: bool = False
    state: Committed | None = None
    subscribers: dict[Subscriber, Catchup | None] = field(default_factory=dict)
    """Each subscriber, with its replay while it catches up (`subscribe` with `since`)."""
    recent: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Event id -> (seq, sender's subject) of recently applied events."""
    live: Any = None  # workflow.Live: its timers and invoked services still wanted
    live_stale: bool = False
    """Cluster mode: another process committed since `live` was read (read before a write)."""
    reading: bool = False
    """A read (e.g. a subscribe) is being answered: it may want the next seqs' updates."""
    refresh_queued: bool = False
    """Cluster mode: a refresh is queued (it reads up to the latest seq: one is enough)."""
    fresh_at: float = 0.0
    """Cluster mode: `perf_counter()` when the request last confirming `state` as the
    database's latest was sent (a load, a refresh, a check, this process's fenced commit):
    a read received before then is answered from the cache without asking again."""
    notified_seq: int = -1
    """Cluster mode: the highest seq another process is known to have committed (a write
    from a cache older than that would lose its commit: it catches up first)."""
    parent: Any = UNKNOWN
    """A child instance's `children.ParentLink`, None for other instances (read before a write)."""


@dataclass(slots=True)
class Work:
    """Transitions applied in memory and not yet committed."""

    state: Committed | None
    insert: bool = False
    log: list[LogRow] = field(default_factory=list)
    applied: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    answers: list[tuple[Op, Any]] = field(default_factory=list)
    updates: list[tuple[Any, PublicState]] = field(default_factory=list)
    checkpoints: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    batch: Batch | None = None  # timers, outbox rows (workflow.py)
    ops: list[Op] = field(default_factory=list)  # the operation of each `log` row
    notices: list[tuple[int, Any]] = field(default_factory=list)  # (seq, emit / log action): after the commit


def take(ops: list[Op]) -> list[Op]:
    """The next unit of work: the leading run of writes, or one read."""
    count = 1
    if ops[0].kind in WRITES:
        while count < len(ops) and ops[count].kind in WRITES:
            count += 1
    batch = ops[:count]
    del ops[:count]
    return batch
