"""The rebase bookkeeping against a simulated server, every interleaving hypothesis finds.

A pure model (no network): the server applies events one at a time (rejecting those its
machine does not accept), answers the sender with ack-then-update or reject, and broadcasts
other writers' updates; messages reach the client in order. Checked after every step: the
visible state is the confirmed state with the pending events replayed (the reconciler's
shortcut never diverges from a full replay); at the end: nothing pending, client == server.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from clientapp import journal
from hypothesis import given, settings
from hypothesis import strategies as st
from statesync import Machine
from statesync.client.reconcile import Reconciler, accepted_events
from statesync.client.state import State

EVENTS = st.sampled_from([{"type": "ADD", "item": "x"}, {"type": "ADD", "item": "y"},
                          {"type": "CLOSE"}, {"type": "REOPEN"}])
STEPS = st.lists(st.tuples(st.sampled_from(["send", "foreign", "serve", "deliver"]), EVENTS),
                 max_size=60)


def public(snapshot: Any, seq: int) -> State:
    return State(snapshot.value, snapshot.tags, snapshot.context, snapshot.status, seq)


def replayed(reconciler: Reconciler) -> tuple[Any, Any]:
    """The visible state computed the slow, obvious way."""
    confirmed = reconciler.confirmed
    assert confirmed is not None
    snapshot = journal.restore({"value": confirmed.value, "context": confirmed.context})
    for pending in reconciler.pending.values():
        if journal.can(snapshot, pending.event):
            snapshot = journal.transition(snapshot, pending.event)[0]
    return snapshot.value, snapshot.context


@settings(max_examples=300, deadline=None)
@given(STEPS)
def test_visible_state_is_always_confirmed_plus_pending(steps: list[tuple[str, dict]]) -> None:
    server, seq = journal.initial_transition()[0], 0
    inbox: deque[tuple[str, dict]] = deque()  # client -> server
    outbox: deque[tuple[str, Any]] = deque()  # server -> client, in order
    client = Reconciler(journal)
    client.confirm(public(server, 0))
    ids = iter(range(10**6))

    def serve() -> None:
        nonlocal server, seq
        event_id, event = inbox.popleft()
        if journal.can(server, event):
            server, seq = journal.transition(server, event)[0], seq + 1
            outbox.extend([("ack", (event_id, seq)), ("update", public(server, seq))])
        else:
            outbox.append(("reject", event_id))

    def deliver() -> None:
        kind, payload = outbox.popleft()
        if kind == "ack":
            client.ack(*payload)
        elif kind == "update":
            client.confirm(payload)
        else:
            client.reject(payload)

    for action, event in steps:
        if action == "send":
            event_id = str(next(ids))
            client.add(event_id, event)
            inbox.append((event_id, event))
        elif action == "foreign":
            if journal.can(server, event):
                server, seq = journal.transition(server, event)[0], seq + 1
                outbox.append(("update", public(server, seq)))
        elif action == "serve" and inbox:
            serve()
        elif action == "deliver" and outbox:
            deliver()
        visible = client.visible
        assert visible is not None
        assert (visible.value, visible.context) == replayed(client)
        assert visible.pending == len(client.pending)
    while inbox or outbox:
        serve() if inbox else deliver()
    assert client.pending == {}
    assert (client.visible.value, client.visible.context, client.visible.seq) == (
        server.value, server.context, seq)


def test_accepted_events_judge_the_type_alone() -> None:
    machine = Machine(
        {"id": "m", "initial": "a", "context": {"open": False},
         "states": {"a": {"on": {"GO": {"target": "b", "guard": "is_open"},
                                 "PAY": {"target": "b", "guard": "enough"}, "NOOP": {}}},
                    "b": {}}},
        guards={"is_open": lambda ctx, ev: ctx["open"], "enough": lambda ctx, ev: ev["amount"] > 0})
    reconciler = Reconciler(machine)
    assert reconciler.snapshot() is None
    reconciler.confirm(State("a", frozenset(), {"open": False}, "active", 0))
    snapshot = reconciler.snapshot()
    assert snapshot is not None
    # GO's guard fails; PAY's needs the payload (raises): the server decides; NOOP does nothing
    assert accepted_events(snapshot) == ["PAY"]
    reconciler.confirm(State("a", frozenset(), {"open": True}, "active", 1))
    assert accepted_events(reconciler.snapshot()) == ["GO", "PAY"]  # type: ignore[arg-type]
