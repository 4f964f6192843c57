"""An operation on one instance, as the engine's callers (transports, the workflow runtime,
the versions tools) hand it in: the one type they share with the engine, kept below it so
none of them needs to import the engine itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .errors import StatesyncError

Reply = Callable[[Any], None]
"""Receives the operation's result, or a `StatesyncError`."""


class Subscriber(Protocol):
    """A receiver of updates (a WebSocket connection)."""

    claims: Mapping[str, Any]
    closed: bool

    def deliver(self, text: str) -> None:
        """Queue an already serialized server message; must not block."""

    def lost(self, machine: str, instance: str, error: StatesyncError) -> None:
        """The server ended this subscription (read no longer allowed, token expired)."""

    async def writable(self) -> bool:
        """Wait until the subscriber has room for more; False once it is closed."""


@dataclass(slots=True)
class Op:
    """One request for an instance, answered through `reply`."""

    kind: Literal["create", "send", "get", "subscribe", "unsubscribe", "upgrade", "refresh"]
    machine: str
    instance: str
    claims: Mapping[str, Any]
    reply: Reply = lambda _result: None
    event: dict[str, Any] | None = None
    event_id: str | None = None
    input: Any = None
    if_exists: Literal["error", "get"] = "error"
    since: int | None = None
    subscriber: Subscriber | None = None
    version: str | None = None  # upgrade: the target version (None: the current one)
    timer_dues: dict[str, float] | None = None  # upgrade: the pending timers' due times
    origin: str = "client"  # the event log's origin: client, timer, service, instance, admin
    ref: Any = None  # a workflow.Ref for events from timers, services and other instances
    settle: bool = False  # send: answer once no effect of the instance is pending
    grant: bool = False  # get: answer a `ReadGrant` (history reads)
    forwarded: bool = False  # send: forwarded by another process to this, the owner (peers.py)
    answered: bool = False
    received: float = 0.0  # perf_counter() when submitted (the log lines' durations)

    def answer(self, result: Any) -> None:
        if not self.answered:
            self.answered = True
            self.reply(result)
