"""Client-side pacing: stay under the server's per-connection rate limit."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """A token bucket: `rate` messages per second on average, bursts of up to `burst`.

    The server rejects messages beyond its own limit (`rate-limited`, 1000/s with bursts of
    2000 by default); pacing below it keeps bursts of sends in order and unrejected.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = time.monotonic()

    async def take(self) -> None:
        """Wait until a message may be sent, and count it."""
        while True:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            await asyncio.sleep((1 - self._tokens) / self.rate)
