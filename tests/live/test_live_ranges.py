"""The live query's key ranges, compared in Python, select exactly what the SQL ranges do."""

from __future__ import annotations

import random
from pathlib import Path

from statesync import Machine, assign
from statesync_server import App, Engine, Op, Store
from statesync_server.engine.indexes import OPS, Query, encode_key, keys_for, run_query
from statesync_server.engine.live_queries import key_predicate

# Indexed strings may not hold NUL (refused before the database sees it, docs/storage.md), so
# the lowest character here is \x01.
VALUES = [0, 1, -1, 2.5, -0.0, 1e300, -1e300, 7, True, False, "", "a", "ab", "abc", "b", "B",
          "a\x01", "é", "日本", "\U0001f600", "a\U0010ffff", "\U0010ffff", "zz", "Z"]


def item_machine() -> Machine:
    return Machine(
        {"id": "item", "initial": "on", "context": lambda input: dict(input or {}),
         "states": {"on": {"on": {"SET": {"actions": "set"}}}}},
        actions={"set": assign(lambda ctx, ev: ev["values"])},
    )


async def test_python_ranges_match_sql(tmp_path: Path) -> None:
    app = App()
    app.register("item", item_machine(), indexes={"v": "v"})
    engine = Engine(app, Store(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}",
                               sqlite_synchronous="OFF"))
    await engine.start()
    rng = random.Random(11)
    contexts = {}
    try:
        for n in range(120):
            value = rng.choice(VALUES) if n % 4 else rng.sample(VALUES, 3)
            contexts[f"i{n:03d}"] = {"v": value}
            await engine.run(Op("create", "item", f"i{n:03d}", {"sub": "t"}, input={"v": value}))
        probes = VALUES + ["a\U0010ffff\U0010ffff", "\x01"]  # no NUL: docs/storage.md
        for op in OPS:
            for value in probes:
                if op == "prefix" and not isinstance(value, str):
                    continue
                items, _ = await run_query(app, engine.store, None,
                                           Query("item", "v", op, value, limit=1000))
                sql = sorted((encode_key(i.key), i.state.instance) for i in items)
                matches = key_predicate(op, value)
                python = sorted((k, name) for name, ctx in contexts.items()
                                for k in keys_for(ctx["v"]) if matches(k))
                assert python == sql, (op, value)
    finally:
        await engine.stop()
