"""The engine in-process on a real database (each backend): ordering, group commit, idempotency."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from testapp_loader import load_test_app

from statesync_server import Engine, ErrorCode, Op, SendResult, StatesyncError, Store
from statesync_server.testing.postgres import Databases

CLAIMS = {"sub": "alice"}


@pytest.fixture
async def engine(databases: Databases):
    engine = Engine(load_test_app(), Store(databases.new("engine")))
    await engine.start()
    yield engine
    await engine.stop()


def send(instance: str, event_id: str, **event: object) -> Op:
    return Op("send", "counter", instance, CLAIMS, event={"type": "INC", **event},
              event_id=event_id)


async def test_one_instance_applies_events_in_arrival_order(engine: Engine) -> None:
    await engine.run(Op("create", "counter", "c", CLAIMS))
    results = await asyncio.gather(*(engine.run(send("c", f"e{i}", by=i)) for i in range(50)))
    assert [r.seq for r in results] == list(range(1, 51))
    state = await engine.run(Op("get", "counter", "c", CLAIMS))
    assert state.context == {"count": sum(range(50))}


async def test_concurrent_instances_share_commits(engine: Engine) -> None:
    names = [f"i{n}" for n in range(40)]
    await asyncio.gather(*(engine.run(Op("create", "counter", n, CLAIMS)) for n in names))
    before = engine.committer.transactions
    await asyncio.gather(*(engine.run(send(n, f"{n}-{k}")) for n in names for k in range(5)))
    transactions = engine.committer.transactions - before
    assert transactions < len(names) * 5 / 4, "writes of concurrent instances are grouped"


async def test_resend_after_reload_is_detected_by_the_database(databases: Databases) -> None:
    url = databases.new("reload")
    first = Engine(load_test_app(), Store(url))
    await first.start()
    await first.run(Op("create", "counter", "r", CLAIMS))
    assert await first.run(send("r", "once")) == SendResult(1, False)
    await first.stop()
    second = Engine(load_test_app(), Store(url))  # knows no event ids in memory
    await second.start()
    try:
        results = await asyncio.gather(*(second.run(send("r", eid))
                                         for eid in ("new1", "once", "new2", "new1")))
        assert results == [SendResult(2, False), SendResult(1, True), SendResult(3, False),
                           SendResult(2, True)]
    finally:
        await second.stop()


async def test_rejections_write_nothing(engine: Engine) -> None:
    await engine.run(Op("create", "counter", "x", CLAIMS))
    with pytest.raises(StatesyncError) as raised:
        await engine.run(Op("send", "counter", "x", CLAIMS, event={"type": "NOPE"}, event_id="n"))
    assert raised.value.code == ErrorCode.EVENT_NOT_ACCEPTED
    rows = await engine.store.log("counter", "x", -1, 10)
    assert [r.seq for r in rows] == [0]


async def test_a_finished_instance_refuses_events_its_states_would_take(engine: Engine) -> None:
    """`can` answers as XState's (a done snapshot whose root has a transition for the event
    says True); the engine still refuses every event to an instance that is not active."""
    await engine.run(Op("create", "doc", "d", CLAIMS, input={"owner": "alice"}))
    await engine.run(Op("send", "doc", "d", CLAIMS, event={"type": "EDIT", "body": "b"}, event_id="1"))
    await engine.run(Op("send", "doc", "d", CLAIMS, event={"type": "PUBLISH"}, event_id="2"))
    await engine.run(Op("send", "doc", "d", CLAIMS, event={"type": "DELETE"}, event_id="3"))
    with pytest.raises(StatesyncError) as raised:
        await engine.run(Op("send", "doc", "d", CLAIMS, event={"type": "REMOVE_READER", "reader": "bob"},
                            event_id="4"))
    assert raised.value.code == ErrorCode.EVENT_NOT_ACCEPTED
    assert "done" in str(raised.value)
    rows = await engine.store.log("doc", "d", -1, 10)
    assert [r.seq for r in rows] == [0, 1, 2, 3]
