"""Reconnect delays: exponential, capped, with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay before reconnect attempt `n` (0-based): `initial * factor**n`, at most
    `max_delay`, then scaled by a random factor in `[1 - jitter, 1]` so clients that lost the
    same server do not come back in lockstep. After `offline_after` failed attempts in a row
    the client reports `offline` (it keeps retrying at `max_delay`)."""

    initial: float = 0.1
    factor: float = 2.0
    max_delay: float = 5.0
    jitter: float = 0.5
    offline_after: int = 4

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.initial * self.factor ** min(attempt, 64))
        return base * (1.0 - self.jitter * random.random())
