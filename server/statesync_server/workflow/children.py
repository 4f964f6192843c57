"""Child actors that are machines: persistent child instances (docs/workflows.md, "Child
machines").

When a machine invokes or spawns an actor whose `src` is a registered statesync `Machine`
(`Machine.setup(actors={"child": child_machine})`, or the `src` is a registered machine's
name and no service has it), the server creates a real instance of that machine, named
`<parent instance>~<child id>~<seq>` (`seq`: the parent's transition that started it), in
the same commit as that transition. The parent and its child then talk through outbox
messages (exactly once, in order per pair): `send_to(child_id, ...)` / `forward_to` down,
`send_parent(...)` up, the child's `xstate.done.actor.<id>` / `xstate.error.actor.<id>` up
when it ends, and `xstate.stop` down when the parent stops it.

The child finds its parent again after a restart from its name and its creation's log row
(created by origin `instance`, subject `<parent machine>/<parent instance>`).

Names of that form are the server's: nobody else may create one (`reserved`), and a parent
whose child's name is already taken gets `xstate.error.actor.<id>` instead of the instance
(it is never adopted), so nobody can put an instance of their own where a parent's child goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from statesync import Machine, Snapshot

from ..errors import ErrorCode, StatesyncError
from ..limits import MAX_NAME

if TYPE_CHECKING:
    from ..app import App, MachineSpec
    from ..store import LogRow

SEPARATOR = "~"
STOP_EVENT = "xstate.stop"
"""The event logged when a parent stops its child instance (the child's status becomes `stopped`)."""
ACTOR_DONE = "statesync.actorDone"
"""An action the engine adds to a child instance's transition that ends it (done or error):
planned as the done / error event's message to the parent."""
ACTOR_SNAPSHOT = "statesync.actorSnapshot"
"""An action the engine adds to a child instance's creation and to each of its transitions that
leaves it active, when the parent's invoke has `onSnapshot`: planned as the
`xstate.snapshot.<id>` event's message to the parent (XState sends the child's initial snapshot
and every change; the one that ends it is the done / error event instead)."""


@dataclass(frozen=True, slots=True)
class ParentLink:
    """The instance that started a child instance, and the child's id there."""

    machine: str
    instance: str
    child_id: str
    sync_snapshot: bool = False
    """Spawned with `sync_snapshot=True`: the parent hears each of its snapshots."""


_CHILD_FORM = re.compile(f"{SEPARATOR}[^{SEPARATOR}]*{SEPARATOR}[0-9]+\\Z")


def reserved(instance: str) -> bool:
    """Whether `instance` has the form of a child instance's name (`...~<id>~<digits>`),
    which only the server creates, for a parent."""
    return _CHILD_FORM.search(instance) is not None


def refuse_reserved(instance: str) -> None:
    """`invalid-message` for a creation of `instance` by anyone but its parent, when the name
    is of the child form."""
    if reserved(instance):
        raise StatesyncError(ErrorCode.INVALID_MESSAGE,
                             f"{instance!r}: names of the form <parent>{SEPARATOR}<id>{SEPARATOR}"
                             f"<seq> are reserved for child instances (their parent creates them)")


def instance_name(parent_instance: str, child_id: str, seq: int) -> str:
    """The child instance's name, or `invalid-event` when it cannot be one: an id with `~`
    (the name could not be read back), or a name over the limit (which also ends a machine
    that starts itself as a child, one level deeper each time)."""
    if not child_id or SEPARATOR in child_id:
        raise StatesyncError(ErrorCode.INVALID_EVENT,
                             f"a child machine's id may not be empty or contain {SEPARATOR!r}: {child_id!r}")
    name = f"{parent_instance}{SEPARATOR}{child_id}{SEPARATOR}{seq}"
    if len(name) > MAX_NAME:
        raise StatesyncError(ErrorCode.INVALID_EVENT,
                             f"child instance name over {MAX_NAME} characters (children nested too "
                             f"deep, or a machine that starts itself?): {name[:60]!r}...")
    return name


def child_machine(app: App, spec: MachineSpec, src: str) -> str | None:
    """The registered machine name an invoked / spawned `src` runs as a child instance, or
    None when `src` is a service. An actor that is a `Machine` nobody registered is an error."""
    actor = getattr(spec.machine, "actors", {}).get(src)
    if isinstance(actor, Machine):
        for name, candidate in app.machines.items():
            if candidate.machine is actor or candidate.machine.config is actor.config:
                return name
        for name, versions in getattr(app, "versions", {}).items():
            for candidate in versions.values():
                if candidate.machine is actor or candidate.machine.config is actor.config:
                    return name
        raise StatesyncError(ErrorCode.INVALID_EVENT,
                             f"actor {src!r} of machine {spec.name!r} is a Machine that is not "
                             f"registered (app.register it to run it as a child instance)")
    if actor is None and src not in (spec.services or {}) and src in app.machines:
        return src
    return None


def parent_from_log(app: App, instance: str, first: LogRow | None) -> ParentLink | None:
    """The parent of `instance`, read from its name and its creation's log row `first`."""
    if first is None or first.seq != 0 or first.origin != "instance" or not first.subject:
        return None
    parts = instance.rsplit(SEPARATOR, 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    parent_instance, child_id = parts[0], parts[1]
    suffix = f"/{parent_instance}"
    if not first.subject.endswith(suffix):
        return None
    parent_machine = first.subject[: -len(suffix)]
    if parent_machine not in app.machines:
        return None
    return ParentLink(parent_machine, parent_instance, child_id)


def stopped(snapshot: Snapshot) -> Snapshot:
    """The snapshot of a child its parent stopped: same state, status `stopped`, no children."""
    return Snapshot(snapshot.machine, snapshot._nodes, snapshot.context, "stopped", snapshot.output,
                    snapshot.error, snapshot.history, {})


def wants_snapshots(app: App, parent: ParentLink) -> bool:
    """Whether the parent wants the child's snapshots: it was spawned with `sync_snapshot`,
    or the parent's machine invokes the child's id with `onSnapshot` (any version)."""
    if parent.sync_snapshot:
        return True
    specs = [app.machines.get(parent.machine), *getattr(app, "versions", {}).get(parent.machine, {}).values()]
    for spec in specs:
        for node in getattr(getattr(spec, "machine", None), "id_map", {}).values():
            for invoke in getattr(node, "invoke", ()):
                if invoke.get("id") == parent.child_id and invoke["config"].get("onSnapshot") is not None:
                    return True
    return False


def snapshot_event(child_id: str, snapshot: Any) -> dict[str, Any]:
    """The `xstate.snapshot.<id>` event the parent gets for its child's `snapshot`."""
    return {"type": f"xstate.snapshot.{child_id}", "actorId": child_id,
            "snapshot": {"value": snapshot.value, "context": snapshot.context,
                         "status": snapshot.status, "tags": sorted(snapshot.tags)}}


def ended_event(child_id: str, snapshot: Any) -> dict[str, Any]:
    """The event the parent gets when its child instance ends with `snapshot`."""
    if snapshot.status == "done":
        return {"type": f"xstate.done.actor.{child_id}", "output": snapshot.output, "actorId": child_id}
    return {"type": f"xstate.error.actor.{child_id}", "error": snapshot.error, "actorId": child_id}
