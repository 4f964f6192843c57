"""What a reader may see of an instance: the one place every read path projects through.

Live updates, `get`, the event log, history (`at/{seq}`), `subscribe` with `since` and index
queries all build what leaves the server with these functions (docs/security.md):

- `may_read`: the machine's `allow_read` on a snapshot (an authorizer that raises refuses);
- `public_context`: the machine's `public_context(context)` or `public_context(context, reader)`;
- `public_event`: an event's type plus the fields `public_event(event, reader)` opts in;
- `may_read_history`: the explicit `allow_read_history` grant of events as they were sent.

Which index values accompany query results is decided in `indexes.key_visible`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from statesync import Sender

from ..app import Access, MachineSpec, allow_authenticated
from ..migrations import UPGRADE

log = logging.getLogger("statesync")

Reader = Mapping[str, Any]
"""The caller's verified token claims."""

SERVER_EVENTS = frozenset({UPGRADE})
"""Events the server itself makes from no one's data (an upgrade's versions): always shown."""

NO_READER: Reader = {}
"""The reader of server code and of the log's stored public state: nobody in particular."""


def public_context(spec: MachineSpec, context: Any, reader: Reader = NO_READER) -> Any:
    """The part of `context` that `reader` may see."""
    if spec.context_takes_reader:
        return spec.public_context(context, reader)
    return spec.public_context(context)


def public_event(spec: MachineSpec, event: Mapping[str, Any], reader: Reader,
                 full: bool = False, sender: Sender | None = None) -> dict[str, Any]:
    """What `reader` may see of a logged event: all of it with a history grant (`full`),
    else its type and the fields the machine's `public_event` returns (called with
    `sender=` when it declares that keyword parameter)."""
    if full or event["type"] in SERVER_EVENTS:
        return dict(event)
    shown: dict[str, Any] = {"type": event["type"]}
    if spec.public_event is not None:
        try:
            if spec.public_event_takes_sender:
                fields = spec.public_event(dict(event), reader, sender=sender or Sender())
            else:
                fields = spec.public_event(dict(event), reader)
        except Exception:  # noqa: BLE001 - a projection bug shows nothing more
            log.exception("public_event failed for %s", spec.name)
            fields = None
        if isinstance(fields, Mapping):
            shown.update({k: v for k, v in fields.items() if k != "type"})
    return shown


def _allowed(authorizer: Callable[[Access], bool], access: Access) -> bool:
    try:
        return bool(authorizer(access))
    except Exception:  # noqa: BLE001 - an authorizer bug refuses
        log.exception("authorizer failed for %s/%s", access.machine, access.instance)
        return False


def may_read(spec: MachineSpec, reader: Reader, instance: str, snapshot: Any) -> bool:
    """The machine's `allow_read` for `reader` on `snapshot`."""
    access = Access(reader, spec.name, instance, snapshot.value, snapshot.context)
    return _allowed(spec.allow_read, access)


def checks_reads(spec: MachineSpec) -> bool:
    """Whether reads depend on the instance's state (anything but the default authorizer)."""
    return spec.allow_read is not allow_authenticated


def may_read_history(spec: MachineSpec, reader: Reader, instance: str, snapshot: Any) -> bool:
    """Whether `reader` is granted events as they were sent (an explicit authorizer only)."""
    if spec.allow_read_history is None:
        return False
    access = Access(reader, spec.name, instance, snapshot.value, snapshot.context)
    return _allowed(spec.allow_read_history, access)
