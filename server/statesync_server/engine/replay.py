"""Catching a subscriber up (`subscribe` with `since`) outside the instance's worker.

The worker only registers the subscriber and answers `subscribed` with the current seq S; a
task of its own then reads the log after `since` up to S a page at a time, keeps what the
reader could read at each seq (`history.readable_steps`), and hands each update to the
subscriber only when it has room (`Subscriber.writable`). Updates committed meanwhile are
held, bounded in bytes, and sent once the replay is done, so the stream stays gap-free and
in order; a subscriber that falls further behind than that loses the subscription.
"""

from __future__ import annotations

from dataclasses import dataclass, field

REPLAY_PAGE = 200  # log rows read (and replayed) at a time: short turns of the event loop
HELD_BYTES = 4 << 20  # live updates held per catching-up subscriber


@dataclass(slots=True)
class Catchup:
    """Live updates held for a subscriber while it replays its gap."""

    limit: int
    """Bytes held at most; beyond, the subscription ends."""
    held: list[str] = field(default_factory=list)
    size: int = 0

    def hold(self, text: str) -> bool:
        """Keep `text` for later; False (and nothing kept) once over the limit."""
        self.size += len(text)
        if self.size > self.limit:
            self.held.clear()
            return False
        self.held.append(text)
        return True
