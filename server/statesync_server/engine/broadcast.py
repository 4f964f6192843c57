"""Broadcast: after a commit, each subscriber gets the update as it may read it (or loses the
subscription: token expired, no longer allowed to read, too far behind while catching up),
then the transition's emitted events and log lines (emits.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ErrorCode, StatesyncError
from ..protocol import PublicState
from . import emits, privacy
from .projection import expired, public_state, update_json
from .slots import Slot, Work

log = logging.getLogger("statesync")


def updates(slot: Slot, work: Work) -> None:
    """A committed unit of work to the subscribers: each transition's update, then its
    emitted events and log lines."""
    notices_by_seq = emits.by_seq(work.notices) if work.notices else None
    for snapshot, public in work.updates:
        broadcast(slot, snapshot, public)
        if notices_by_seq and public.seq in notices_by_seq:
            notices(slot, snapshot, public.seq, notices_by_seq[public.seq])


def broadcast(slot: Slot, snapshot: Any, public: PublicState) -> None:
    """One committed state (`public`: its reader-independent projection) to every subscriber,
    projected for it; a subscriber that may not have it loses the subscription."""
    if not slot.subscribers:
        return
    shared = None if slot.spec.context_takes_reader else update_json(public)
    now = time.time()
    for subscriber, catchup in list(slot.subscribers.items()):
        if subscriber.closed:
            del slot.subscribers[subscriber]
            continue
        claims = subscriber.claims
        error = None
        text = shared
        if expired(claims, now):
            error = StatesyncError(ErrorCode.UNAUTHENTICATED, "token expired")
        elif not privacy.may_read(slot.spec, claims, slot.instance, snapshot):
            error = StatesyncError(ErrorCode.FORBIDDEN, "no longer allowed to read")
        elif text is None:
            try:
                text = update_json(public_state(slot, snapshot, public.seq, claims))
            except Exception:  # a projection bug: this reader gets nothing more
                log.exception("public_context failed for %s/%s", slot.machine, slot.instance)
                error = StatesyncError(ErrorCode.INTERNAL, "cannot project this update")
        if error is None and catchup is not None and not catchup.hold(text):
            error = StatesyncError(ErrorCode.RATE_LIMITED,
                                   "fell too far behind while catching up; subscribe again")
        if error is not None:
            del slot.subscribers[subscriber]
            subscriber.lost(slot.machine, slot.instance, error)
        elif catchup is None:
            subscriber.deliver(text)


def notices(slot: Slot, snapshot: Any, seq: int, actions: list[Any]) -> None:
    """Log lines, and emitted events for the subscribers that may read the instance at
    `seq` (after that seq's update; held like it for a subscriber catching up)."""
    now = time.time()
    for action in actions:
        if action.type == emits.LOG:
            emits.write_log(slot.machine, slot.instance, seq, action.params)
            continue
        emit(slot, snapshot, seq, action.params["event"], now)


def emit(slot: Slot, snapshot: Any, seq: int, event: Mapping[str, Any], now: float) -> None:
    """One emitted event to the subscribers that may read the instance at `seq`."""
    for subscriber, catchup in list(slot.subscribers.items()):
        claims = subscriber.claims
        if (subscriber.closed or expired(claims, now)
                or not privacy.may_read(slot.spec, claims, slot.instance, snapshot)):
            continue  # `broadcast` has ended these subscriptions
        try:
            text = emits.emitted_json(slot.spec, slot.instance, seq, event, claims, snapshot)
        except Exception:  # not JSON: an application bug, this event reaches no one
            log.exception("emitted event of %s/%s cannot be sent", slot.machine, slot.instance)
            return
        if catchup is None:
            subscriber.deliver(text)
        elif not catchup.hold(text):
            del slot.subscribers[subscriber]
            subscriber.lost(slot.machine, slot.instance, StatesyncError(
                ErrorCode.RATE_LIMITED, "fell too far behind while catching up; subscribe again"))
