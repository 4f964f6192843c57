"""`State`: what an instance handle shows (confirmed by the server, or optimistic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..snapshot import matches_state


@dataclass(frozen=True, slots=True)
class State:
    """The visible state of an instance.

    `seq` is the last seq confirmed by the server; `pending` counts the events applied on top
    of it locally and not yet confirmed (0: this is exactly the server's state).
    """

    value: Any
    tags: frozenset[str]
    context: Any
    status: str
    seq: int
    pending: int = 0

    @property
    def done(self) -> bool:
        return self.status == "done"

    def matches(self, value: Any) -> bool:
        """`state.matches("a.b")` or `state.matches({"a": "b"})`, as XState's `matches`."""
        return matches_state(value, self.value)

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (for JavaScript callers and logs)."""
        return {
            "value": self.value,
            "tags": sorted(self.tags),
            "context": self.context,
            "status": self.status,
            "done": self.done,
            "seq": self.seq,
            "pending": self.pending,
        }

    @classmethod
    def from_server(cls, message: dict[str, Any]) -> State:
        """The public state in a server `update` / `created` / `state` message."""
        return cls(message["value"], frozenset(message["tags"]), message["context"],
                   message["status"], message["seq"])
