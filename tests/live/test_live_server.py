"""Live queries over a raw WebSocket: a restaurant's order list kept up to date by the server."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from server_harness import WsClient
from statesync_server.testing import ServerProcess

MARKER = "KITCHEN-SECRET-7f3a"  # in every order's private note and pickup code
_ids = itertools.count()


def changes(client: WsClient, watch: Any) -> list[dict[str, Any]]:
    """The `query-change`s of `watch` received so far (taken from the buffer), in order."""
    found = [m for m in client.inbox if m.get("type") == "query-change" and m["id"] == watch]
    client.inbox = [m for m in client.inbox if m not in found]
    return found


async def change(client: WsClient, watch: Any, instance: str) -> dict[str, Any]:
    return await client.expect(lambda m: m.get("type") == "query-change" and m["id"] == watch
                               and m["instance"] == instance)


async def create(writer: WsClient, name: str, restaurant: str, **fields: Any) -> None:
    reply = await writer.request({
        "type": "create", "id": f"c{next(_ids)}", "machine": "order", "instance": name,
        "input": {"restaurant": restaurant, "customer": "carol", "note": MARKER,
                  "code": MARKER, **fields}})
    assert reply["type"] == "created", reply


async def set_(writer: WsClient, name: str, **fields: Any) -> None:
    ack = await writer.send_event("order", name, {"type": "SET", **fields}, f"e{next(_ids)}")
    assert ack["type"] == "ack", ack


async def watch(client: WsClient, watch_id: Any, index: str, value: Any, op: str = "eq",
                **options: Any) -> dict[str, Any]:
    return await client.request({"type": "watch", "id": watch_id, "machine": "order",
                                 "index": index, "op": op, "value": value, **options})


async def sync(client: WsClient, writer: WsClient, watch_id: Any, restaurant: str) -> None:
    """Wait until everything committed so far reached `client` (a fresh order of its own
    restaurant enters its `restaurant` watch `watch_id`)."""
    name = f"{restaurant}-sync-{next(_ids)}"
    await create(writer, name, restaurant)
    await change(client, watch_id, name)


@pytest.fixture
async def writer(server: ServerProcess) -> Any:
    client = await WsClient.connect(server, server.mint("carol"))
    yield client
    await client.ws.close()


async def test_orders_enter_update_and_leave(server: ServerProcess, writer: WsClient,
                                             restaurant: str) -> None:
    await create(writer, f"{restaurant}-a", restaurant)
    await create(writer, f"{restaurant}-b", restaurant, status="cooking")
    staff = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    first = await watch(staff, "new", "status", "new")
    assert first["type"] == "results" and first["cursor"] is None
    mine = [i for i in first["items"] if i["instance"].startswith(restaurant)]
    assert [(i["instance"], i["key"]) for i in mine] == [(f"{restaurant}-a", "new")]

    await create(writer, f"{restaurant}-c", restaurant)  # created into the range
    entered = await change(staff, "new", f"{restaurant}-c")
    assert entered["change"] == "enter" and entered["seq"] == 0
    assert entered["item"]["key"] == "new" and entered["item"]["context"]["status"] == "new"

    await set_(writer, f"{restaurant}-a", items=["soup"])  # changed inside it
    updated = await change(staff, "new", f"{restaurant}-a")
    assert updated["change"] == "update" and updated["seq"] == 1
    assert updated["item"]["context"]["items"] == ["soup"]

    await set_(writer, f"{restaurant}-a", status="cooking")  # moved out
    left = await change(staff, "new", f"{restaurant}-a")
    assert left == {"type": "query-change", "id": "new", "machine": "order", "index": "status",
                    "change": "leave", "instance": f"{restaurant}-a", "seq": 1}

    await set_(writer, f"{restaurant}-b", status="new")  # moved in
    moved = await change(staff, "new", f"{restaurant}-b")
    assert moved["change"] == "enter" and moved["seq"] == 1

    await set_(writer, f"{restaurant}-a", items=["tea"])  # outside the range: nothing
    await set_(writer, f"{restaurant}-b", status="new", items=["x"])
    assert (await change(staff, "new", f"{restaurant}-b"))["change"] == "update"
    assert changes(staff, "new") == []

    assert (await staff.request({"type": "unwatch", "id": "new"})) == {
        "type": "unwatched", "id": "new"}
    await set_(writer, f"{restaurant}-b", items=["y"])
    await watch(staff, "after", "restaurant", restaurant)  # a later watch: the socket is in sync
    await set_(writer, f"{restaurant}-b", items=["z"])
    await change(staff, "after", f"{restaurant}-b")
    assert changes(staff, "new") == []
    await staff.ws.close()


async def test_a_watcher_never_hears_of_orders_it_may_not_read(
        server: ServerProcess, writer: WsClient, restaurant: str) -> None:
    other = f"{restaurant}-other"
    staff = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    await watch(staff, 1, "status", "new")
    await watch(staff, 2, "restaurant", restaurant)
    await watch(staff, 3, "restaurant", other)  # a restaurant it does not work for
    await create(writer, f"{other}-x", other)
    await set_(writer, f"{other}-x", items=["caviar"])
    await set_(writer, f"{other}-x", restaurant=restaurant, status="cooking")  # now readable
    moved = await change(staff, 2, f"{other}-x")
    assert moved["change"] == "enter"
    await set_(writer, f"{other}-x", restaurant=other)  # and not any more
    assert (await change(staff, 2, f"{other}-x"))["change"] == "leave"
    await set_(writer, f"{other}-x", status="new")
    await sync(staff, writer, 2, restaurant)
    seen = [m for m in staff.inbox if f"{other}-x" in json.dumps(m)]
    assert seen == []  # watches 1 and 3 never named it, 2 only while it could read it
    await staff.ws.close()


async def test_revoked_read_access_leaves(server: ServerProcess, writer: WsClient,
                                          restaurant: str) -> None:
    name = f"{restaurant}-o"
    await create(writer, name, restaurant)
    cook = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    chef = await WsClient.connect(server, server.mint("chef", restaurant=restaurant))
    for client in (cook, chef):
        first = await watch(client, "w", "restaurant", restaurant)
        assert [i["instance"] for i in first["items"]] == [name]
    await set_(writer, name, blocked=["cook"])
    assert (await change(cook, "w", name))["change"] == "leave"
    assert (await change(chef, "w", name))["change"] == "update"
    await set_(writer, name, items=["more"])
    await set_(writer, name, status="done")
    assert (await change(chef, "w", name))["seq"] == 2
    assert (await change(chef, "w", name))["seq"] == 3
    await sync(cook, writer, "w", restaurant)
    assert [m for m in cook.inbox if name in json.dumps(m)] == []
    await set_(writer, name, blocked=[])  # readable again: enters again
    assert (await change(cook, "w", name))["change"] == "enter"
    await cook.ws.close()
    await chef.ws.close()


async def test_private_index_values_never_appear(server: ServerProcess, writer: WsClient,
                                                 restaurant: str) -> None:
    name = f"{restaurant}-p"
    staff = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    customer = await WsClient.connect(server, server.mint("carol"))
    refused = await watch(staff, "sweep", "code", "K", op="prefix")
    assert refused["type"] == "error" and refused["code"] == "invalid-message"
    await watch(staff, "code", "code", MARKER)  # eq on a private index: answered, no key
    await watch(staff, "tip", "tip", 0, op="gte")  # tips are shown to the customer only
    await watch(customer, "tip", "tip", 0, op="gte")
    await create(writer, name, restaurant, tip=5)
    coded = await change(staff, "code", name)
    assert coded["change"] == "enter" and "key" not in coded["item"]
    staff_tip = await change(staff, "tip", name)
    assert "key" not in staff_tip["item"] and "tip" not in staff_tip["item"]["context"]
    customer_tip = await change(customer, "tip", name)
    assert customer_tip["item"]["key"] == 5 and customer_tip["item"]["context"]["tip"] == 5
    await set_(writer, name, tip=7, code=MARKER + "-2", note=MARKER + "-3")
    assert (await change(staff, "code", name))["change"] == "leave"
    assert "key" not in (await change(staff, "tip", name))["item"]
    assert (await change(customer, "tip", name))["item"]["key"] == 7
    for message in staff.inbox + customer.inbox:
        assert MARKER not in json.dumps(message)
    await staff.ws.close()
    await customer.ws.close()


async def test_expired_token_ends_the_watch(server: ServerProcess, writer: WsClient,
                                            restaurant: str) -> None:
    staff = await WsClient.connect(server, server.mint("cook", ttl=2, restaurant=restaurant))
    await watch(staff, "w", "restaurant", restaurant)
    await create(writer, f"{restaurant}-1", restaurant)
    assert (await change(staff, "w", f"{restaurant}-1"))["change"] == "enter"
    await asyncio.sleep(3.1)  # `exp` is within 2 s of now: it has passed
    await create(writer, f"{restaurant}-2", restaurant)
    ended = await staff.expect(lambda m: m.get("type") == "error" and m.get("id") == "w")
    assert ended["code"] == "unauthenticated" and ended["machine"] == "order"
    await create(writer, f"{restaurant}-3", restaurant)
    await asyncio.sleep(0.3)
    assert changes(staff, "w") == []
    await staff.ws.close()


async def test_watch_limits_and_bad_requests(server: ServerProcess, restaurant: str) -> None:
    staff = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    for n in range(100):
        assert (await watch(staff, n, "restaurant", f"{restaurant}-{n}"))["type"] == "results"
    over = await watch(staff, 100, "restaurant", restaurant)
    assert over["type"] == "error" and over["code"] == "rate-limited"
    again = await watch(staff, 5, "restaurant", restaurant)
    assert again["code"] == "invalid-message"  # that id is active
    await staff.request({"type": "unwatch", "id": 5})
    assert (await watch(staff, 5, "restaurant", restaurant))["type"] == "results"
    unknown = await watch(staff, "u", "nope", 1)
    assert unknown["code"] == "not-found"
    await staff.send({"type": "watch", "machine": "order", "index": "status", "value": "new"})
    no_id = await staff.expect(lambda m: m.get("type") == "error")
    assert no_id["code"] == "invalid-message"
    anonymous = await WsClient.connect(server)
    refused = await watch(anonymous, "x", "status", "new")
    assert refused["code"] == "unauthenticated"
    await staff.ws.close()
    await anonymous.ws.close()


async def test_results_then_changes_converge_under_writes(server: ServerProcess,
                                                          writer: WsClient,
                                                          restaurant: str) -> None:
    """Orders move in and out while watches start: the first page followed by the changes
    always ends as the set a fresh query returns."""
    names = [f"{restaurant}-{n}" for n in range(12)]
    for name in names:
        await create(writer, name, restaurant)

    async def churn() -> None:
        for round_ in range(6):
            for n, name in enumerate(names):
                await set_(writer, name, status="new" if (n + round_) % 3 else "cooking")

    staff = await WsClient.connect(server, server.mint("cook", restaurant=restaurant))
    task = asyncio.create_task(churn())
    views: dict[int, dict[str, int]] = {}
    for w in range(6):
        first = await watch(staff, w, "status", "new", limit=1000)
        views[w] = {i["instance"]: i["seq"] for i in first["items"]
                    if i["instance"].startswith(restaurant)}
        await asyncio.sleep(0.05)
    await asyncio.wait_for(task, 60)
    await watch(staff, "sync", "restaurant", restaurant)
    await sync(staff, writer, "sync", restaurant)
    final = await watch(staff, "final", "status", "new", limit=1000)
    expected = {i["instance"]: i["seq"] for i in final["items"]
                if i["instance"] in names}
    for w, view in views.items():
        for message in changes(staff, w):
            if message["change"] == "leave":
                view.pop(message["instance"], None)
            else:
                assert message["seq"] > view.get(message["instance"], -1)
                view[message["instance"]] = message["seq"]
        assert {k: v for k, v in view.items() if k in names} == expected, w
    await staff.ws.close()
