"""The server's clock for timers, effect retries and the event log's times.

`SystemClock` is the wall clock. `ManualClock` (`statesync serve --clock manual`, the pytest
plugin's servers with `statesync_clock = manual`) stands still until it is advanced
(`virtual_time.advance`): waits on it are parked until the clock reaches their due time, so a
test can skip a day in milliseconds and see every timer fire at its exact due time.

Authentication (token expiry) and the server's own infrastructure retries keep the wall clock.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class SystemClock:
    """Wall-clock time and asyncio's own sleeping."""

    manual = False

    def time(self) -> float:
        return time.time()

    def jitter(self, low: float, high: float) -> float:
        """A random factor for retry backoff."""
        return random.uniform(low, high)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Until `event` is set or `timeout` seconds passed, whichever comes first."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    async def timeout(self, awaitable: Awaitable[T], seconds: float) -> T:
        """`awaitable`'s result, or `TimeoutError` (it is cancelled) after `seconds`."""
        return await asyncio.wait_for(awaitable, seconds)


class ManualClock(SystemClock):
    """A clock that moves only when `set` or `advance_to` moves it.

    It starts at the whole second of the wall clock at start-up (whole seconds keep sums such as
    `start + 86400` exact in floating point). Sleepers wait for a due time; `next_due()` tells the
    earliest one, which is how `virtual_time.advance` steps from one due time to the next.
    Retry backoff has no jitter, so retry times are exact too.
    """

    manual = True

    def __init__(self, start: float | None = None) -> None:
        self._now = float(int(time.time())) if start is None else float(start)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._woken: set[asyncio.Future[None]] = set()
        """Sleepers woken whose waiting code has not resumed yet."""

    def time(self) -> float:
        return self._now

    def jitter(self, low: float, high: float) -> float:
        return 1.0

    @property
    def waking(self) -> bool:
        """Whether some code woken by the last `set` has not run yet."""
        return bool(self._woken)

    def next_due(self) -> float | None:
        """The earliest due time anything waits for (None: nothing waits)."""
        while self._sleepers and self._sleepers[0][2].done():  # cancelled waits
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, now: float) -> None:
        """Move to `now` (never backwards) and wake every sleeper due by then."""
        self._now = max(self._now, now)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _due, _order, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
                self._woken.add(future)

    def _sleeper(self, seconds: float) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
        else:
            heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        return future

    async def sleep(self, seconds: float) -> None:
        future = self._sleeper(seconds)
        try:
            await future
        finally:
            future.cancel()
            self._woken.discard(future)

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        if event.is_set():
            return
        sleeper = self._sleeper(timeout)
        waiter = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
            self._woken.discard(sleeper)

    async def timeout(self, awaitable: Awaitable[T], seconds: float) -> T:
        task: asyncio.Future[Any] = asyncio.ensure_future(awaitable)
        sleeper = self._sleeper(seconds)
        try:
            await asyncio.wait({task, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            self._woken.discard(sleeper)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise TimeoutError
        return task.result()


Clock = SystemClock | ManualClock


def make_clock(kind: str, start: float | None = None) -> Clock:
    """`system`, or `manual` starting at `start` (default: now, to the second)."""
    if kind == "system":
        return SystemClock()
    if kind == "manual":
        return ManualClock(start)
    raise ValueError(f"unknown clock {kind!r} (system or manual)")
