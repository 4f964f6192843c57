"""Durable timers: `after` transitions and delayed raises, fired by the server.

A timer row is written in the transaction of the transition that starts it and deleted in
the one that cancels it, or in the one that applies its event (so it fires once: a crash
before that commit leaves the row, and it fires on the next start). The scheduler holds the
pending timers of the database in a heap; on start-up it loads them all, so timers whose due
time passed while the server was down fire at once, oldest first.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, SystemClock

TimerKey = tuple[str, str, str]
"""(machine, instance, timer_id)."""


@dataclass(order=True, slots=True)
class Timer:
    due: float
    order: int
    machine: str = field(compare=False)
    instance: str = field(compare=False)
    timer_id: str = field(compare=False)
    seq: int = field(compare=False)
    """The transition that started it: a restarted timer (same id) is a different timer."""
    event: dict[str, Any] = field(compare=False)

    @property
    def key(self) -> TimerKey:
        return (self.machine, self.instance, self.timer_id)


class TimerScheduler:
    """Calls `fire(timer)` at each live timer's due time on `clock` (never early)."""

    def __init__(self, fire: Callable[[Timer], None], clock: Clock | None = None) -> None:
        self._fire = fire
        self._clock = clock or SystemClock()
        self._heap: list[Timer] = []
        self._live: dict[TimerKey, int] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._live)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="statesync-timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def add(self, machine: str, instance: str, timer_id: str, seq: int, due: float,
            event: dict[str, Any]) -> None:
        """Schedule (or reschedule: the same key with a newer seq replaces the older)."""
        timer = Timer(due, next(self._order), machine, instance, timer_id, seq, event)
        self._live[timer.key] = seq
        first = not self._heap or timer < self._heap[0]
        heapq.heappush(self._heap, timer)
        if first:
            self._wake.set()

    @property
    def waking(self) -> bool:
        """Whether it was told of a timer due before its current wait and has not re-planned
        that wait yet (virtual time must not step past the new timer meanwhile)."""
        return self._wake.is_set()

    def has_due(self) -> bool:
        """Whether a timer (perhaps a cancelled one) is due and not handled yet."""
        return bool(self._heap) and self._heap[0].due <= self._clock.time()

    def remove(self, key: TimerKey, seq: int | None = None) -> None:
        """Forget a cancelled (or fired) timer; its heap entry is skipped when it surfaces."""
        if seq is None or self._live.get(key) == seq:
            self._live.pop(key, None)

    async def _run(self) -> None:
        while True:
            if not self._heap:
                await self._wake.wait()
                self._wake.clear()
                continue
            delay = self._heap[0].due - self._clock.time()
            if delay > 0:
                await self._clock.wait(self._wake, delay)
                self._wake.clear()
                continue
            now = self._clock.time()
            fired = 0
            while self._heap and self._heap[0].due <= now:
                timer = heapq.heappop(self._heap)
                if self._live.get(timer.key) == timer.seq:
                    del self._live[timer.key]
                    self._fire(timer)
                fired += 1
                if fired % 1000 == 0:
                    await asyncio.sleep(0)  # let the engine start on the first ones
