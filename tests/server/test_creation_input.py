"""A creation input is checked before the machine's context function reads it: a client
error naming the field (`input.address`), never a 500 "error in application code"."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from statesync import Machine
from statesync_server import App, Engine, ErrorCode, Op, StatesyncError, Store
from statesync_server.testing.postgres import Databases

CLAIMS = {"sub": "alice"}


class Address(BaseModel):
    street: str = Field(min_length=1)


class OrderInput(BaseModel):
    restaurant: str
    address: Address


def new_order(input, **_):
    return {"restaurant": input["restaurant"], "street": input["address"]["street"]}


def order() -> Machine:
    return Machine({"id": "order", "initial": "open", "context": new_order,
                    "states": {"open": {}}})


@pytest.fixture
async def engine(databases: Databases):
    app = App()
    app.register("checked", order(), input_model=OrderInput)
    app.register("unchecked", order())
    engine = Engine(app, Store(databases.new("input")))
    await engine.start()
    yield engine
    await engine.stop()


async def _refusal(engine: Engine, machine: str, input: object) -> StatesyncError:
    with pytest.raises(StatesyncError) as raised:
        await engine.run(Op("create", machine, "o1", CLAIMS, input=input))
    assert await engine.store.load(machine, "o1") is None  # nothing written
    return raised.value


async def test_the_input_model_is_checked_before_the_context_function(engine: Engine) -> None:
    error = await _refusal(engine, "checked", {"restaurant": "luigi", "address": {}})
    assert error.code == ErrorCode.INVALID_EVENT
    assert "input.address.street: Field required" in error.message
    error = await _refusal(engine, "checked", {"address": {"street": ""}})
    assert "input.restaurant: Field required" in error.message
    assert "input.address.street: String should have at least 1 character" in error.message
    created = await engine.run(Op("create", "checked", "o2", CLAIMS,
                                  input={"restaurant": "luigi", "address": {"street": "Main"}}))
    assert created.state.context == {"restaurant": "luigi", "street": "Main"}


async def test_a_field_the_context_function_misses_is_named_without_a_model(engine) -> None:
    error = await _refusal(engine, "unchecked", {"restaurant": "luigi"})
    assert error.code == ErrorCode.INVALID_EVENT and error.http_status == 422
    assert error.message == ("input: no field 'address' (the machine reads it as it starts; "
                             "App.register(..., input_model=...) checks the input first)")
