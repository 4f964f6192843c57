"""Reads of committed state: `get` (and a read grant), `subscribe` (from now, or catching up
`since` a seq: replayed page by page outside the instance's worker, see replay.py) and
`unsubscribe`; each authorized by the machine's read rule (privacy.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ..app import App
from ..errors import ErrorCode, StatesyncError
from ..ops import Op, Subscriber
from ..protocol import PublicState
from ..store import Store
from ..store.outage import is_outage
from . import privacy
from .history import readable_steps
from .projection import public_state, update_json, update_text
from .replay import HELD_BYTES, REPLAY_PAGE, Catchup
from .results import ReadGrant
from .slots import Committed, Slot

log = logging.getLogger("statesync")


def read(slot: Slot, op: Op) -> tuple[Subscriber, Catchup, int, int] | None:
    """Answer a get, subscribe or unsubscribe from the committed state. A subscriber asking
    for updates `since` an older seq is registered as catching up: returned with its range,
    for `catch_up`."""
    if op.kind == "unsubscribe":
        slot.subscribers.pop(op.subscriber, None)  # type: ignore[arg-type]
        op.answer(None)
        return None
    try:
        if slot.state is None:
            raise StatesyncError(ErrorCode.NOT_FOUND, f"no instance {slot.instance!r}")
        state = readable(slot, op.claims, slot.state)
    except StatesyncError as exc:
        op.answer(exc)
        return None
    if op.kind == "get":
        if op.grant:
            snapshot = slot.state.snapshot
            history = privacy.may_read_history(slot.spec, op.claims, slot.instance, snapshot)
            state = ReadGrant(state, slot.spec, history)
        op.answer(state)
        return None
    subscriber = op.subscriber
    assert subscriber is not None
    if subscriber.closed:
        return None
    op.answer(state.seq)
    if op.since is None or op.since >= state.seq:
        slot.subscribers[subscriber] = None
        if op.since is None:
            subscriber.deliver(update_json(state))
        return None
    catchup = slot.subscribers[subscriber] = Catchup(HELD_BYTES)
    return subscriber, catchup, op.since, state.seq


async def catch_up(app: App, store: Store, slot: Slot, subscriber: Subscriber,
                   catchup: Catchup, since: int, upto: int) -> None:
    """Send a subscriber the updates after `since` up to `upto` that it could read at
    their seq, then what was committed meanwhile (see replay.py)."""
    reader = subscriber.claims

    def current() -> bool:
        return slot.subscribers.get(subscriber) is catchup and not subscriber.closed

    try:
        while since < upto and current():
            steps, scanned = await readable_steps(
                app, store, reader, slot.machine, slot.instance, since,
                min(REPLAY_PAGE, upto - since))
            for step in steps:
                if not await subscriber.writable() or not current():
                    return
                subscriber.deliver(update_text(slot, step, reader))
            if scanned == since:
                break  # the log ends here
            since = scanned
        if current():
            for text in catchup.held:
                subscriber.deliver(text)
            slot.subscribers[subscriber] = None
    except Exception as exc:
        if is_outage(exc):
            store.outage.failed(exc)
            error = StatesyncError(ErrorCode.UNAVAILABLE,
                                   "the database is unavailable; subscribe again with since")
        else:
            log.exception("replay failed for %s/%s", slot.machine, slot.instance)
            error = StatesyncError(ErrorCode.INTERNAL, "replay failed; subscribe again")
        if current():
            del slot.subscribers[subscriber]
            subscriber.lost(slot.machine, slot.instance, error)


def readable(slot: Slot, claims: Mapping[str, Any], state: Committed) -> PublicState:
    """What `claims` may read of the committed `state`; `forbidden` if nothing."""
    if not privacy.may_read(slot.spec, claims, slot.instance, state.snapshot):
        raise StatesyncError(ErrorCode.FORBIDDEN, f"not allowed to read {slot.instance!r}")
    return public_state(slot, state.snapshot, state.seq, claims)
