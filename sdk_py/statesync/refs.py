"""Where `send_to` sends: a child actor, the machine itself, its parent, or the actor the
system knows by a `systemId` (XState's child ids, `self`, `#_parent` and `system.get`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARENT_TARGET = "#_parent"
SELF_TARGET = "#_internal"


@dataclass(frozen=True, slots=True)
class ActorRef:
    """An actor an event can be sent to. `kind` is `child` (`id`: the child's id), `self`,
    `parent` or `system` (`id`: the `systemId` it was registered under)."""

    kind: str
    id: str | None = None


SELF = ActorRef("self")
"""The machine itself (XState's `self`): `send_to(SELF, event)` puts `event` in its own
mailbox, taken after the current macrostep (with a delay: a timer that `cancel` can stop)."""

PARENT = ActorRef("parent")
"""The actor that invoked or spawned this one (as `send_parent`)."""


class System:
    """XState's `system`: `system.get(system_id)` is the actor registered under that
    `systemId` (`spawn_child(..., system_id=...)` or an invoke's `systemId`), found by the
    runtime when the event is delivered."""

    def get(self, system_id: str) -> ActorRef:
        if not isinstance(system_id, str) or not system_id:
            raise TypeError(f"system.get() takes a systemId string, got {system_id!r}")
        return ActorRef("system", system_id)


system = System()


def actor_ref(target: Any) -> ActorRef:
    """The `ActorRef` a `send_to` target names: a ref, or a string as XState reads one: a
    child's id, `"#_parent"`, `"#_internal"` (the machine itself), `"#_<id>"` (child `id`)."""
    if isinstance(target, ActorRef):
        return target
    if not isinstance(target, str):
        raise TypeError(f"send_to() target must be a child id or an actor ref, got {target!r}")
    if target == PARENT_TARGET:
        return PARENT
    if target == SELF_TARGET:
        return SELF
    if target.startswith("#_"):
        return ActorRef("child", target[2:])
    return ActorRef("child", target)
