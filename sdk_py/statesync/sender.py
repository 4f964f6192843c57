"""`Sender`: who sent the event being processed, for implementations that ask for it."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

ORIGINS = ("client", "timer", "service", "instance", "upgrade", "none")


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent an event. Actions, guards and delays that declare a keyword parameter
    `sender` receive one: `def assign_owner(context, event, *, sender): ...`.

    `origin` is the event log's origin: `client` (a token's holder: `subject` and `claims`
    are its token's), `timer` (a delayed event or `after`), `service` (an invoked service's
    result), `instance` (`send_to` / `create_instance` from another instance, named by
    `instance`), `upgrade` (a version upgrade), or `none` (`transition` called without one).
    `subject` and `claims` are set only for `client`.
    """

    subject: str | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    instance: tuple[str, str] | None = None
    origin: str = "none"

    @classmethod
    def client(cls, claims: Mapping[str, Any]) -> Sender:
        """The holder of a token with these claims."""
        return cls(claims.get("sub"), MappingProxyType(dict(claims)), None, "client")


NO_SENDER = Sender()
"""What implementations receive when `transition` is called without a sender."""


def takes_sender(fn: Callable[..., Any]) -> bool:
    """Whether `fn` declares a parameter `sender` that can be passed by keyword."""
    try:
        parameter = inspect.signature(fn).parameters.get("sender")
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return parameter is not None and parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD)
