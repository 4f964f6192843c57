"""What an app's effects and services receive (`EffectCall`) and how they are retried (`Retry`).

The runner that calls them is `workflow/effects.py`; these types sit with the app's model
(`App.register(..., retry=Retry(...))`) so that the model needs nothing above it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Retry:
    """How a machine's effects and services are retried.

    Attempt n (n >= 2) starts `backoff * 2**(n-2)` seconds (capped at `max_backoff`, +-10 %
    jitter) after attempt n-1 failed; after `max_attempts` failures the job is `failed`.
    Each attempt is cancelled after `timeout` seconds (a failure).
    """

    max_attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 300.0
    timeout: float = 90.0

    def delay(self, failures: int, jitter: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds to wait after the `failures`-th failure (`jitter(0.9, 1.1)` times the base)."""
        base = min(self.max_backoff, self.backoff * 2 ** max(failures - 1, 0))
        return base * jitter(0.9, 1.1)


@dataclass(frozen=True, slots=True)
class EffectCall:
    """What an effect or service implementation receives."""

    kind: str
    """`effect` or `service`."""
    name: str
    """The effect name, or the service's `src`."""
    machine: str
    instance: str
    idempotency_key: str
    """Stable across retries and restarts: `machine/instance/seq/index`. Pass it on to the
    outside world (an e-mail provider's Idempotency-Key) to make at-least-once exactly-once."""
    attempt: int
    """1 for the first run, 2 for the first retry, ..."""
    params: Any = None
    """The effect's params from the config (`{"type": name, "params": ...}`)."""
    input: Any = None
    """The service's `input` (services only)."""
    invoke_id: str | None = None
    """The service's invoke id (services only)."""
    event: Any = None
    """The event whose transition produced the job."""
    context: Any = None
    """The instance's (private) context when the action ran."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """`await call.sleep(seconds)`: wait on the server's clock, which is virtual under
    `--clock manual`; use it (not `asyncio.sleep`) for waits that tests should skip (a poll
    interval, a stand-in for a slow provider)."""
