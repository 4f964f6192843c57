"""The sender of an event, for implementations that declare a keyword parameter `sender`."""

from __future__ import annotations

import pytest

from statesync import Machine, Sender, assign, raise_, send_to


def claim_machine() -> Machine:
    return Machine(
        {
            "id": "claim",
            "initial": "open",
            "context": lambda input, *, sender: {"creator": sender.subject, "owner": None},
            "states": {
                "open": {"on": {"CLAIM": {"target": "taken", "actions": "setOwner"}}},
                "taken": {
                    "on": {
                        "RELEASE": {"target": "open", "guard": "isOwner", "actions": "clear"},
                        "NOTE": {"actions": ["note", "forward"]},
                        "LATER": {"actions": raise_({"type": "NOTE"}, delay=lambda c, e, *, sender: len(sender.subject or ""))},
                    }
                },
            },
        },
        actions={
            "setOwner": assign({"owner": lambda ctx, ev, *, sender: sender.subject}),
            "clear": assign({"owner": None}),
            "note": assign(lambda ctx, ev, params, *, sender: {"last": [sender.origin, sender.instance, params]}),
            "forward": send_to("log", lambda ctx, ev, *, sender: sender.origin, {"type": "SEEN"}),
        },
        guards={"isOwner": lambda ctx, ev, *, sender: sender.subject == ctx["owner"]},
    )


def test_actions_guards_and_the_context_factory_see_the_sender() -> None:
    machine = claim_machine()
    assert machine.reads_sender
    alice, bob = Sender.client({"sub": "alice", "role": "x"}), Sender.client({"sub": "bob"})
    snapshot, _ = machine.initial_transition(None, alice)
    assert snapshot.context == {"creator": "alice", "owner": None}
    snapshot, _ = machine.transition(snapshot, {"type": "CLAIM"}, alice)
    assert snapshot.context["owner"] == "alice"
    assert not machine.can(snapshot, {"type": "RELEASE"}, bob)
    assert machine.handles(snapshot, "RELEASE") and not machine.handles(snapshot, "CLAIM")
    assert machine.transition(snapshot, {"type": "RELEASE"}, bob)[0] is snapshot
    assert machine.can(snapshot, {"type": "RELEASE"}, alice)
    assert machine.transition(snapshot, {"type": "RELEASE"}, alice)[0].value == "open"


def test_params_and_sender_together_and_the_sending_instance() -> None:
    machine = claim_machine()
    snapshot, _ = machine.initial_transition()
    snapshot, _ = machine.transition(snapshot, {"type": "CLAIM"})
    other = Sender(instance=("relay", "r1"), origin="instance")
    after, actions = machine.transition(snapshot, {"type": "NOTE"}, other)
    assert after.context["last"] == ["instance", ("relay", "r1"), None]
    assert actions[0].params["instance"] == "instance"


def test_without_a_sender_the_old_signature_works_and_gets_no_sender() -> None:
    machine = claim_machine()
    snapshot, _ = machine.initial_transition()
    assert snapshot.context["creator"] is None
    snapshot, _ = machine.transition(snapshot, {"type": "CLAIM"})
    assert snapshot.context["owner"] is None
    assert Sender().origin == "none"


def test_delays_see_the_sender() -> None:
    machine = claim_machine()
    snapshot, _ = machine.transition(machine.initial_transition()[0], {"type": "CLAIM"})
    _, actions = machine.transition(snapshot, {"type": "LATER"}, Sender.client({"sub": "carol"}))
    assert actions[0].params["delay"] == 5


def test_machines_that_do_not_ask_for_the_sender_are_not_marked() -> None:
    machine = Machine({"id": "m", "initial": "a", "states": {"a": {"on": {"GO": {"actions": assign({"n": lambda c, e: 1})}}}}})
    assert not machine.reads_sender


def test_sender_is_frozen_and_its_claims_read_only() -> None:
    sender = Sender.client({"sub": "alice"})
    with pytest.raises(AttributeError):
        sender.subject = "bob"  # type: ignore[misc]
    with pytest.raises(TypeError):
        sender.claims["sub"] = "bob"  # type: ignore[index]
