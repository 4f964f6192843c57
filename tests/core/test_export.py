"""Export: XState JSON config and Mermaid diagrams."""

import json

from statesync import Machine, and_, assign, raise_, state_in

CONFIG = {
    "id": "order",
    "initial": "cart",
    "context": {"items": 0},
    "states": {
        "cart": {
            "on": {
                "ADD": {"actions": "add"},
                "CHECKOUT": {"target": "checkout", "guard": and_(["hasItems", state_in("#order.cart")])},
            },
            "tags": ["editable"],
        },
        "checkout": {
            "type": "parallel",
            "states": {
                "payment": {"initial": "pending", "states": {"pending": {"on": {"PAID": "paid"}}, "paid": {"type": "final"}}},
                "shipping": {"initial": "packing", "states": {"packing": {"after": {"2000": "sent"}}, "sent": {"type": "final"}}},
            },
            "onDone": "done",
        },
        "done": {"type": "final", "entry": raise_({"type": "THANKS"})},
    },
}


def machine():
    return Machine(CONFIG, actions={"add": assign({"items": lambda c, e: c["items"] + 1})}, guards={"hasItems": lambda c, e: c["items"] > 0})


def test_to_config_is_json_and_rebuilds_an_equivalent_machine():
    exported = machine().to_config()
    text = json.dumps(exported)
    assert exported["states"]["cart"]["on"]["CHECKOUT"]["guard"] == {
        "type": "xstate.and",
        "guards": ["hasItems", {"type": "xstate.stateIn", "stateValue": "#order.cart"}],
    }
    assert exported["states"]["done"]["entry"] == {"type": "xstate.raise", "event": {"type": "THANKS"}}
    rebuilt = Machine(json.loads(text), actions={"add": assign({"items": lambda c, e: c["items"] + 1})}, guards={"hasItems": lambda c, e: c["items"] > 0})
    for m in (machine(), rebuilt):
        snapshot, _ = m.initial_transition()
        for event in ("CHECKOUT", "ADD", "CHECKOUT", "PAID", "xstate.after.2000.order.checkout.shipping.packing"):
            snapshot, _ = m.transition(snapshot, {"type": event})
        assert snapshot.status == "done" and snapshot.context == {"items": 1}


def test_mermaid_draws_nesting_parallel_regions_and_transitions():
    diagram = machine().to_mermaid()
    lines = [line.strip() for line in diagram.splitlines()]
    assert lines[0] == "stateDiagram-v2"
    assert "[*] --> order_cart" in lines
    assert "state order_checkout {" in lines
    assert "--" in lines  # region separator inside the parallel state
    assert "order_cart --> order_checkout: CHECKOUT [xstate.and]" in lines
    assert "order_checkout_shipping_packing --> order_checkout_shipping_sent: after 2000ms" in lines
    assert "order_checkout --> order_done: xstate.done.state.order.checkout" in lines
    assert "order_done --> [*]" in lines
    assert diagram.count("{") == diagram.count("}")


def test_mermaid_names_a_named_delay_as_written():
    trial = Machine({"id": "sub", "initial": "trial", "states": {
        "trial": {"after": {"trialEnds": "active", "1.5": "late"}},
        "active": {}, "late": {}}}, delays={"trialEnds": 7 * 86_400_000})
    lines = [line.strip() for line in trial.to_mermaid().splitlines()]
    assert "sub_trial --> sub_active: after trialEnds" in lines
    assert "sub_trial --> sub_late: after 1.5ms" in lines
