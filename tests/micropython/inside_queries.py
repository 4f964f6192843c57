"""Inside MicroPython: queries and a live query against a real server
(tests/micropython/test_client_in_micropython.py), through the bridge as the worker uses them."""

import asyncio
import json

import statesync_bridge as bridge
import taskboard
from statesync import Client


async def _first_change(live):
    changes = live.__aiter__()
    async for change in changes:
        await changes.aclose()
        return [change.kind, change.instance]


async def run(args_json):
    args = json.loads(args_json)
    client = Client(args["url"], token=args["token"], machines={"task": taskboard.task})
    try:
        await client.connect(10)
        changes, ends = [], []
        watched = await bridge.watch(
            client, json.dumps({"machine": "task", "index": "column", "op": "eq",
                                "value": "doing"}),
            lambda change: changes.append(json.loads(change)),
            lambda code, message: ends.append([code, message]))
        live = watched.value
        first = await client.instance("task", args["prefix"] + "a", {"title": "A"})
        await client.instance("task", args["prefix"] + "b", {"title": "B", "column": "doing"})
        await live.wait_for(lambda q: len(q) == 1, 10)
        iterated = asyncio.create_task(_first_change(live))  # `async for`, as on CPython
        await asyncio.sleep(0)
        await first.send({"type": "MOVE", "column": "doing"})
        await live.wait_for(lambda q: len(q) == 2, 10)
        first_change = await asyncio.wait_for(iterated, 10)
        page = await bridge.query(client, json.dumps({"machine": "task", "index": "column",
                                                      "op": "eq", "value": "doing"}))
        ended = live.ended
        await bridge.close(live)
        reason = await ended
        return json.dumps({"items": json.loads(bridge.items_json(live)), "changes": changes,
                           "page": json.loads(page.value), "ends": ends,
                           "ended": reason is None, "iterated": first_change})
    finally:
        await client.close()
