"""The hot path builds `update` and `ack` texts without the protocol models: byte for byte
what the models serialize, for every kind of value a context may hold."""

from __future__ import annotations

import pytest

from statesync_server.engine.results import SendResult
from statesync_server.engine.projection import update_json
from statesync_server.protocol import Ack, PublicState, Update

CONTEXTS = [
    None,
    {"count": 1, "ratio": 1.5, "text": 'é "quoted" \u2028 \\ \x00'},
    [1, -(2**63), 2**63 - 1, True, None],
    {"nan": float("nan"), "inf": float("-inf")},
    {"set": {1}, "tuple": (1, 2), "big": 2**70, "nested": {"a": [{"b": []}]}},
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("status", ["active", "done"])
def test_update_text_is_the_models(context: object, status: str) -> None:
    state = PublicState.model_construct(
        machine="m", instance="i-1", seq=7, value={"a": "b"}, tags=["t1", "t2"],
        context=context, status=status, done=status == "done")
    assert update_json(state) == Update.model_construct(**dict(state)).model_dump_json()


@pytest.mark.parametrize("duplicate", [False, True])
def test_ack_text_is_the_models(duplicate: bool) -> None:
    result = SendResult(42, duplicate)
    expected = Ack(event_id="e-1", machine="m", instance="i", seq=42, duplicate=duplicate)
    assert result.ack_json("e-1", "m", "i") == expected.model_dump_json()


def test_settled_ack_text_is_the_models() -> None:
    result = SendResult(3, False, True, None)
    assert result.ack_json("e", "m", "i") == result.ack("e", "m", "i").model_dump_json()
