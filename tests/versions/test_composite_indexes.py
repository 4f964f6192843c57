"""A composite index over several context paths, queried together: the plan and the status
of a subscription in one `eq` (no `plan_status` field kept by hand), or the plan alone."""

from __future__ import annotations

import pytest
from statesync import Machine, assign
from statesync_server import App, Engine, Index, Op, StatesyncError, Store
from statesync_server.web.http_queries import query_value
from statesync_server.engine.indexes import Query, composite_key, run_query
from statesync_server.engine.live_queries import key_predicate
from statesync_server.protocol import client_message

ME = {"sub": "alice"}


def subscription() -> Machine:
    return Machine({"id": "sub", "initial": "active",
                    "context": lambda input: {"plan": input["plan"], "status": "active"},
                    "states": {"active": {"on": {"PAST_DUE": {"target": "past_due",
                                                              "actions": "mark"}}},
                               "past_due": {}}},
                   actions={"mark": assign({"status": "past_due"})})


def app(*, composite: bool) -> App:
    built = App()
    indexes = {"plan": "plan"}
    if composite:
        indexes["plan_status"] = Index(("plan", "status"))
    built.register("sub", subscription(), indexes=indexes)
    return built


async def names(engine: Engine, value, op: str = "eq", order: str = "asc") -> list[str]:
    items, _ = await run_query(engine.app, engine.store, ME,
                               Query("sub", "plan_status", op, value, order))
    return [item.state.instance for item in items]


async def test_a_composite_index_answers_both_values_or_the_leading_ones(db_url: str) -> None:
    engine = Engine(app(composite=False), Store(db_url))
    await engine.start()
    plans = {"a": "pro", "b": "pro", "c": "free", "d": "pro", "e": "pro,x"}
    for name, plan in plans.items():
        await engine.run(Op("create", "sub", name, ME, input={"plan": plan}))
    await engine.run(Op("send", "sub", "b", ME, event={"type": "PAST_DUE"}, event_id="1"))
    await engine.stop()

    engine = Engine(app(composite=True), Store(db_url))  # declared later: back-filled
    await engine.start()
    try:
        assert await names(engine, ["pro", "active"]) == ["a", "d"]
        items, _ = await run_query(engine.app, engine.store, ME,
                                   Query("sub", "plan_status", "eq", ["pro"], limit=1))
        assert items[0].key == ["pro", "active"]  # the values, as a list
        assert await names(engine, ["pro", "past_due"]) == ["b"]
        assert await names(engine, ["pro"]) == ["a", "d", "b"]  # by status, then name
        assert await names(engine, ["pro"], order="desc") == ["b", "d", "a"]
        assert await names(engine, ["free", "active"]) == ["c"]
        assert await names(engine, ["pro,x"]) == ["e"]  # no separator confusion
        await engine.run(Op("send", "sub", "d", ME, event={"type": "PAST_DUE"}, event_id="2"))
        assert await names(engine, ["pro", "past_due"]) == ["b", "d"]  # kept in the commit
        assert await names(engine, ["pro", "active"]) == ["a"]
        for bad in ([], ["pro", "active", "x"], "pro", [["pro"]]):
            with pytest.raises(StatesyncError):
                await names(engine, bad)
        with pytest.raises(StatesyncError, match="eq"):
            await names(engine, ["pro", "active"], op="gt")
    finally:
        await engine.stop()


def test_a_live_query_on_a_composite_index_matches_the_same_entries() -> None:
    leading, both = key_predicate("eq", ["pro"]), key_predicate("eq", ["pro", "active"])
    assert leading(composite_key(["pro", "active"])) and leading(composite_key(["pro", 3]))
    assert not leading(composite_key(["pro,x", "active"]))
    assert not leading(composite_key(["pr", "o"]))
    assert both(composite_key(["pro", "active"])) and not both(composite_key(["pro", "past"]))


def test_composite_values_come_over_http_and_websocket() -> None:
    assert query_value('["pro","active"]') == ["pro", "active"]
    message = client_message.validate_python({"type": "query", "machine": "sub",
                                               "index": "plan_status", "value": ["pro", 2, True]})
    assert message.value == ["pro", 2, True]
