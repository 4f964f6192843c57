"""Index queries against a real database (each backend) holding 100,000 instances."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from statesync import Machine, assign
from statesync_server import App, Engine, ErrorCode, Op, StatesyncError, Store
from statesync_server.engine.indexes import (
    Query,
    build_select,
    decode_key,
    encode_key,
    instance_keys,
    run_query,
)
from statesync_server.store import InstanceWrite
from statesync_server.store.schema import index_entries
from statesync_server.testing.postgres import Databases
from statesync_server.testing.postgres import query as query_database

N = 100_000
INDEXES = {"n": "n", "label": "label", "tags": "tags", "flag": "flag"}
PREFIXES = ["alpha", "beta", "gamma", "delta", "émile", "日本", "Zed", "a"]


def item_machine() -> Machine:
    return Machine(
        {"id": "item", "initial": "open", "context": lambda input: dict(input or {}),
         "states": {"open": {"on": {"SET": {"actions": "set"}, "CLOSE": "closed"}},
                    "closed": {"type": "final"}}},
        actions={"set": assign(lambda ctx, ev: ev["values"])},
    )


def build_app(indexes: dict[str, str] = INDEXES) -> App:
    app = App()
    app.register("item", item_machine(), indexes=indexes,
                 allow_read=lambda a: a.subject in ("admin", a.context.get("owner")),
                 public_context=lambda ctx: {"n": ctx.get("n"), "label": ctx.get("label")})
    return app


def generate() -> dict[str, dict]:
    rng = random.Random(5)
    data = {}
    for i in range(N):
        ctx = {"owner": "alice" if i % 3 else "bob",
               "label": f"{rng.choice(PREFIXES)}-{rng.randrange(10_000):04d}",
               "tags": rng.sample(["red", "green", "blue", "x"], rng.randrange(4)),
               "flag": i % 2 == 0,
               "secret": i}
        if i % 50:
            ctx["n"] = rng.randrange(-500, 500) + (0.5 if i % 7 == 0 else 0)
        data[f"i{i:06d}"] = ctx
    return data


DATA = generate()


async def bulk_insert(url: str) -> None:
    """The store in big transactions: 10,000 instances (and their index rows) per commit."""
    app = build_app()
    engine = Engine(app, Store(url, sqlite_synchronous="NORMAL"))
    await engine.start()  # creates the tables and records the index definitions
    machine = item_machine()
    template = machine.initial_transition({})[0].to_dict()
    names = list(DATA)
    for start in range(0, N, 10_000):
        writes = [
            InstanceWrite("item", name, "1", {**template, "context": DATA[name]}, 0, "active",
                          True, [], indexes=instance_keys(INDEXES, DATA[name]))
            for name in names[start:start + 10_000]
        ]
        await engine.store.commit(writes)
    await engine.stop()


@pytest.fixture(scope="module")
def big_db(session_databases: Databases) -> str:
    url = session_databases.new("big")
    asyncio.run(bulk_insert(url))
    return url


@pytest.fixture
def db_copy(big_db: str, databases: Databases) -> str:
    """A private copy for tests that change instances or indexes."""
    return databases.copy(big_db)


@pytest.fixture
async def store(big_db: str):
    store = Store(big_db)
    await store.open()
    yield store
    await store.close()


def expected(index: str, op: str, value, order: str, reader: str | None) -> list[tuple]:
    """Brute force over the generated data: (value, name) in index order."""
    path = INDEXES[index]
    out = []
    for name, ctx in DATA.items():
        if reader not in (None, "admin") and ctx["owner"] != reader:
            continue
        raw = ctx.get(path)
        for v in dict.fromkeys(raw if isinstance(raw, list) else [raw]):
            if v is None:
                continue
            same_type = type(v is True or v is False) is type(value is True or value is False) and (
                isinstance(v, str) == isinstance(value, str))
            ok = {
                "eq": same_type and v == value,
                "ne": not (same_type and v == value),
                "lt": same_type and v < value,
                "lte": same_type and v <= value,
                "gt": same_type and v > value,
                "gte": same_type and v >= value,
                "prefix": isinstance(v, str) and v.startswith(value),
            }[op]
            if ok:
                out.append((v, name))
    out.sort(key=lambda t: (encode_key(t[0]), t[1]), reverse=order == "desc")
    return out


async def page_through(app, store, query: Query, claims) -> list[tuple]:
    found, cursor, pages = [], None, 0
    while True:
        q = Query(query.machine, query.index, query.op, query.value, query.order, query.limit,
                  cursor)
        items, cursor = await run_query(app, store, claims, q)
        found.extend((i.key, i.state.instance) for i in items)
        pages += 1
        assert pages < 10_000
        if cursor is None:
            return found


def test_keys_sort_like_their_values() -> None:
    rng = random.Random(1)
    numbers = [rng.uniform(-1e12, 1e12) for _ in range(2000)] + [0, -0.0, 1, -1, 2**52, -2**52,
                                                                 1e-300, -1e-300, 1e308]
    assert sorted(numbers, key=encode_key) == sorted(numbers)
    words = ["", "a", "ab", "b", "Z", "é", "日本", "😀", "a\x00", "\uffff", "\U0010ffff"]
    assert sorted(words, key=encode_key) == sorted(words)  # code point order
    assert decode_key(encode_key(-12)) == -12 and decode_key(encode_key(0.25)) == 0.25
    assert decode_key(encode_key(True)) is True and decode_key(encode_key("日本")) == "日本"


async def test_bulk_insert_wrote_every_index_row(store) -> None:
    async with store.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(index_entries))).scalar()
    expect = sum(len(v) for ctx in DATA.values() for v in instance_keys(INDEXES, ctx).values())
    assert count == expect > 3 * N


CASES = [
    ("n", "eq", 17), ("n", "eq", 17.5), ("n", "ne", 3), ("n", "lt", -480), ("n", "lte", -480),
    ("n", "gt", 480), ("n", "gte", 480), ("n", "lt", 0.5),
    ("label", "eq", "beta-0042"), ("label", "lt", "alpha-0100"), ("label", "gte", "日本"),
    ("label", "prefix", "émile-00"), ("label", "prefix", "日本-01"), ("label", "prefix", "a"),
    ("label", "gt", "Zed-9990"), ("label", "lte", "Zed-0005"),
    ("tags", "eq", "red"), ("tags", "prefix", "g"), ("flag", "eq", True), ("flag", "ne", True),
]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("index", "op", "value"), CASES)
async def test_every_operator_first_page(store, index, op, value, order) -> None:
    app = build_app()
    query = Query("item", index, op, value, order, 100)
    items, cursor = await run_query(app, store, {"sub": "admin"}, query)
    want = expected(index, op, value, order, None)
    assert [(i.key, i.state.instance) for i in items] == want[:100]
    assert (cursor is None) == (len(want) <= 100)
    for item in items:  # public context only
        assert set(item.state.context) == {"n", "label"}


@pytest.mark.parametrize(("index", "op", "value", "order", "limit"), [
    ("n", "lt", -450, "asc", 97), ("label", "prefix", "gamma-01", "desc", 50),
    ("n", "gte", 470.5, "desc", 40), ("label", "prefix", "delta-00", "asc", 1000),
])
async def test_paging_through_everything_filtered_by_allow_read(store, index, op, value, order,
                                                                limit) -> None:
    app = build_app()
    query = Query("item", index, op, value, order, limit)
    assert await page_through(app, store, query, {"sub": "bob"}) == expected(
        index, op, value, order, "bob")


async def test_query_plan_uses_the_index(big_db: str, backend: str) -> None:
    after = (encode_key(10), "i050000")
    dialect = (sqlite_dialect if backend == "sqlite" else postgresql_dialect).dialect()
    if backend == "postgresql":
        query_database(big_db, "ANALYZE")  # as autovacuum would have, after the bulk load
    for op, value, order in [("eq", 17, "asc"), ("lt", 0, "desc"), ("prefix", "beta", "asc"),
                             ("ne", 3, "asc"), ("gte", 10, "asc")]:
        statement = build_select(Query("item", "n" if op != "prefix" else "label", op, value,
                                       order), after, 50)
        sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if backend == "sqlite":
            plan = "\n".join(row[3] for row in query_database(big_db, "EXPLAIN QUERY PLAN " + sql))
            assert "USING COVERING INDEX index_entries_lookup" in plan, plan
            assert "TEMP B-TREE" not in plan, plan  # the index gives the order
            assert "SCAN" not in plan, plan
        else:
            plan = "\n".join(row[0] for row in query_database(big_db, "EXPLAIN " + sql))
            assert "Index Only Scan" in plan and "index_entries_lookup" in plan, plan
            assert "Sort" not in plan, plan  # the index gives the order
            assert "Seq Scan" not in plan, plan


async def test_pagination_is_stable_while_instances_change(db_copy: str) -> None:
    engine = Engine(build_app(), Store(db_copy, sqlite_synchronous="NORMAL"))
    await engine.start()
    try:
        admin = {"sub": "admin"}
        before = {name for v, name in expected("n", "gte", 470, "asc", None)}
        moved, created = set(), set()
        seen: list[tuple] = []
        cursor, rounds = None, 0
        rng = random.Random(7)
        while True:
            q = Query("item", "n", "gte", 470, "asc", 100, cursor)
            items, cursor = await run_query(engine.app, engine.store, admin, q)
            seen.extend((i.key, i.state.instance) for i in items)
            # Meanwhile: move some matching instances out of the range, create new ones in it.
            batch = rng.sample(sorted(before - moved), 5)
            new = f"new{rounds}"
            await asyncio.gather(
                *(engine.run(Op("send", "item", name, admin, event_id=f"m{rounds}{name}",
                                event={"type": "SET", "values": {"n": -1}})) for name in batch),
                engine.run(Op("create", "item", new, admin,
                              input={"n": 475, "owner": "alice", "label": "new"})))
            moved.update(batch)
            created.add(new)
            rounds += 1
            assert rounds < 1000
            if cursor is None:
                break
        names = [name for _, name in seen]
        assert len(names) == len(set(names)), "no instance twice"
        keys = [(encode_key(v), name) for v, name in seen]
        assert keys == sorted(keys), "strictly in index order"
        untouched = before - moved
        assert untouched <= set(names), "no unchanged instance skipped"
        assert set(names) <= before | created
    finally:
        await engine.stop()


async def test_index_rows_follow_transitions(db_copy: str) -> None:
    engine = Engine(build_app(), Store(db_copy))
    await engine.start()
    try:
        admin = {"sub": "admin"}
        await engine.run(Op("send", "item", "i000001", admin, event_id="e1",
                            event={"type": "SET", "values": {"n": 123456, "tags": ["solo"]}}))
        items, _ = await run_query(engine.app, engine.store, admin,
                                   Query("item", "n", "eq", 123456))
        assert [i.state.instance for i in items] == ["i000001"]
        items, _ = await run_query(engine.app, engine.store, admin,
                                   Query("item", "tags", "eq", "solo"))
        assert [i.state.instance for i in items] == ["i000001"]
        await engine.run(Op("send", "item", "i000001", admin, event_id="e2",
                            event={"type": "SET", "values": {"n": None, "tags": []}}))
        for index, value in (("n", 123456), ("tags", "solo")):
            items, _ = await run_query(engine.app, engine.store, admin, Query("item", index, "eq", value))
            assert items == []
    finally:
        await engine.stop()


async def test_adding_an_index_back_fills_it(db_copy: str) -> None:
    engine = Engine(build_app({**INDEXES, "owner": "owner"}), Store(db_copy))
    await engine.start()
    try:
        items, cursor = await run_query(engine.app, engine.store, {"sub": "admin"},
                                        Query("item", "owner", "eq", "bob", "asc", 1000))
        bobs = sorted(n for n, c in DATA.items() if c["owner"] == "bob")
        assert [i.state.instance for i in items] == bobs[:1000] and cursor is not None
    finally:
        await engine.stop()
    # Removing it drops its rows.
    engine = Engine(build_app(), Store(db_copy))
    await engine.start()
    try:
        async with engine.store.engine.connect() as conn:
            left = (await conn.execute(select(func.count()).select_from(index_entries).where(
                index_entries.c.name == "owner"))).scalar()
        assert left == 0
    finally:
        await engine.stop()


async def test_bad_queries(store) -> None:
    app = build_app()
    for query, code in [
        (Query("item", "nope", "eq", 1), ErrorCode.NOT_FOUND),
        (Query("item", "n", "like", 1), ErrorCode.INVALID_MESSAGE),
        (Query("item", "label", "prefix", 1), ErrorCode.INVALID_MESSAGE),
        (Query("item", "n", "eq", [1]), ErrorCode.INVALID_MESSAGE),
        (Query("item", "n", "eq", 1, cursor="garbage"), ErrorCode.INVALID_MESSAGE),
        (Query("item", "n", "eq", 1, limit=0), ErrorCode.INVALID_MESSAGE),
    ]:
        with pytest.raises(StatesyncError) as caught:
            await run_query(app, store, {"sub": "admin"}, query)
        assert caught.value.code == code
