"""Group commit on a real database (each backend): a failing write fails alone, cheaply."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from statesync_server import Store
from statesync_server.store.groupcommit import GroupCommitter
from statesync_server.store import InstanceWrite, WriteConflict
from statesync_server.testing.postgres import Databases


def create(name: str) -> InstanceWrite:
    return InstanceWrite("counter", name, "1", {"value": "idle", "context": {}}, 0, "active",
                         insert=True)


async def test_a_conflicting_write_fails_alone_in_a_few_transactions(databases: Databases) -> None:
    """A batch with one write that breaks a uniqueness rule (an instance created twice, as two
    processes racing in cluster mode): the other writes commit, and finding the bad one costs
    about log2(batch) transactions, not one transaction per write."""
    store = Store(databases.new("groupcommit"))
    await store.open()
    committer = GroupCommitter(store)
    committer.start()
    try:
        await committer.commit(create("taken"))
        names = [f"n{i}" for i in range(63)]
        before = committer.transactions
        results = await asyncio.gather(
            *(committer.commit(create(name)) for name in [*names[:40], "taken", *names[40:]]),
            return_exceptions=True)
        assert isinstance(results[40], WriteConflict)
        assert [r for i, r in enumerate(results) if i != 40] == [None] * 63
        for name in names:
            assert await store.load("counter", name) is not None
        assert committer.transactions - before <= 2 * math.ceil(math.log2(64))
    finally:
        await committer.stop()
        await store.close()


def update(name: str, seq: int) -> InstanceWrite:
    return InstanceWrite("counter", name, "1", {"value": "idle", "context": {"n": seq}}, seq,
                         "active", insert=False)


@asynccontextmanager
async def two_processes(databases: Databases, name: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one new PostgreSQL database, as two server processes of a cluster."""
    if databases.backend == "sqlite":
        pytest.skip("SQLite is served by one process")
    url = databases.new(name)
    first, second = Store(url), Store(url)
    await first.open()
    await second.open()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_processes_committing_the_same_instances_never_deadlock(
        databases: Databases) -> None:
    """Two processes' group commits touching the same instances (cluster mode, every instance
    written through every process) lock their rows in one order, so neither waits for the
    database's deadlock detector (a second per deadlock, and then an error) for the other."""
    async with two_processes(databases, "deadlock") as (first, second):
        names = [f"d{i}" for i in range(20)]
        await first.commit([create(name) for name in names])
        for round_ in range(1, 41):
            await asyncio.gather(first.commit([update(n, round_) for n in names]),
                                 second.commit([update(n, round_) for n in reversed(names)]))


async def test_a_fenced_write_holds_off_other_processes_commits(databases: Databases) -> None:
    """`Store.fenced` holds the instance's row lock: another process's commit to the instance
    waits for the fenced write's commit and lands after it; a fenced write that breaks a
    uniqueness rule is a `WriteConflict`."""
    async with two_processes(databases, "fence") as (first, second):
        await first.commit([create("f")])
        async with first.fenced("counter", "f") as fence:
            waiting = asyncio.create_task(second.commit([update("f", 1)]))
            for _ in range(6000):  # until the other commit waits for the lock (bounded)
                if await _waits_for_a_lock(first):
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the other commit never waited for the fenced row")
            assert not waiting.done()
            await fence.commit(update("f", 2))
        await waiting
        assert (await first.load("counter", "f")).seq == 1  # the waiting commit came after
        await first.commit([create("taken")])
        with pytest.raises(WriteConflict):
            async with first.fenced("counter", "taken") as fence:
                await fence.commit(create("taken"))


async def _waits_for_a_lock(store: Store) -> bool:
    async with store._reading() as conn:
        waiting = await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"))
        return waiting.scalar() > 0
