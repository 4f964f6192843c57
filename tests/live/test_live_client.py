"""The Python client's `query` and `watch` against the restaurant server, with a reconnect."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from statesync import Client
from statesync.client import Change, ClientError, LiveQuery
from statesync_server.testing import ServerProcess, TcpProxy

MARKER = "KITCHEN-SECRET-91c2"
WAIT = 15.0


async def order(customer: Client, name: str, restaurant: str, **fields: Any) -> Any:
    return await customer.instance("order", name, create={
        "restaurant": restaurant, "customer": "carol", "note": MARKER, "code": MARKER, **fields})


async def test_query_pages(server: ServerProcess, make_client: Callable[..., Client],
                           restaurant: str) -> None:
    customer = make_client(server.url, token=server.mint("carol"))
    for n in range(5):
        await order(customer, f"{restaurant}-{n}", restaurant, tip=n)
    staff = make_client(server.url, token=server.mint("cook", restaurant=restaurant))
    seen, cursor = [], None
    while True:
        page = await staff.query("order", "restaurant", "eq", restaurant, limit=2, cursor=cursor)
        assert len(page.items) <= 2
        seen += page.items
        if page.cursor is None:
            break
        cursor = page.cursor
    assert [i.instance for i in seen] == [f"{restaurant}-{n}" for n in range(5)]
    assert all(i.key == restaurant and i.state.context["status"] == "new" for i in seen)
    tips = await customer.query("order", "tip", "gte", 3, order="desc")
    mine = [(i.instance, i.key) for i in tips.items if i.instance.startswith(restaurant)]
    assert mine == [(f"{restaurant}-4", 4), (f"{restaurant}-3", 3)]
    hidden = await staff.query("order", "tip", value=3)
    assert [(i.instance, i.key) for i in hidden.items if i.instance.startswith(restaurant)] == [
        (f"{restaurant}-3", None)]  # staff may not see tips
    try:
        await staff.query("order", "code", "prefix", "K")
    except ClientError as exc:
        assert exc.code == "invalid-message"
    else:
        raise AssertionError("a prefix query on a private index was answered")


async def test_watch_follows_the_order_list(server: ServerProcess,
                                            make_client: Callable[..., Client],
                                            restaurant: str) -> None:
    customer = make_client(server.url, token=server.mint("carol"))
    handles = {n: await order(customer, f"{restaurant}-{n}", restaurant) for n in "cab"}
    await handles["b"].send({"type": "SET", "status": "cooking"})
    staff = make_client(server.url, token=server.mint("cook", restaurant=restaurant))
    other = make_client(server.url, token=server.mint("cook2", restaurant=f"{restaurant}-x"))
    live = await staff.watch("order", "status", "eq", "new", limit=1)  # read in pages of one
    blind = await other.watch("order", "status", "eq", "new")
    assert _mine(live, restaurant) == [f"{restaurant}-a", f"{restaurant}-c"]
    heard: list[Change] = []
    live.subscribe(heard.append)
    blind_heard: list[Change] = []
    blind.subscribe(blind_heard.append)

    await handles["b"].send({"type": "SET", "status": "new"})
    await live.wait_for(lambda q: f"{restaurant}-b" in q, WAIT)
    assert heard[-1].kind == "enter" and heard[-1].item.key == "new"
    await handles["a"].send({"type": "SET", "items": ["soup"]})
    await live.wait_for(lambda q: q.get(f"{restaurant}-a").state.context["items"] == ["soup"], WAIT)
    assert heard[-1].kind == "update"
    await handles["c"].send({"type": "SET", "status": "ready"})
    await live.wait_for(lambda q: f"{restaurant}-c" not in q, WAIT)
    assert heard[-1] == Change("leave", f"{restaurant}-c", None)
    assert _mine(live, restaurant) == [f"{restaurant}-a", f"{restaurant}-b"]

    await handles["a"].send({"type": "SET", "blocked": ["cook"]})  # read access revoked
    await live.wait_for(lambda q: f"{restaurant}-a" not in q, WAIT)
    assert heard[-1].kind == "leave"
    assert not any(restaurant in c.instance for c in blind_heard)
    assert MARKER not in json.dumps([i.to_dict() for i in live.items])

    await live.close()
    assert live.closed
    await handles["b"].send({"type": "SET", "items": ["late"]})
    await asyncio.sleep(0.3)
    assert live.get(f"{restaurant}-b").state.context["items"] == []


async def test_watch_survives_a_reconnect(server: ServerProcess,
                                          make_client: Callable[..., Client],
                                          statesync_proxy: Callable[[ServerProcess], TcpProxy],
                                          restaurant: str) -> None:
    proxy = statesync_proxy(server)
    customer = make_client(server.url, token=server.mint("carol"))
    handles = {n: await order(customer, f"{restaurant}-{n}", restaurant) for n in "abc"}
    staff = make_client(proxy.url, token=server.mint("cook", restaurant=restaurant))
    live = await staff.watch("order", "restaurant", "eq", restaurant, limit=2)
    assert _mine(live, restaurant) == [f"{restaurant}-{n}" for n in "abc"]
    heard: list[Change] = []
    live.subscribe(heard.append)

    proxy.cut(down=True)  # offline while orders enter, leave and change
    await handles["a"].send({"type": "SET", "restaurant": f"{restaurant}-elsewhere"})
    await handles["b"].send({"type": "SET", "status": "cooking"})
    await order(customer, f"{restaurant}-d", restaurant)
    await order(customer, f"{restaurant}-e", restaurant)
    assert _mine(live, restaurant) == [f"{restaurant}-{n}" for n in "abc"]
    proxy.restore()

    expected = [f"{restaurant}-{n}" for n in "bcde"]
    await live.wait_for(lambda q: _mine(q, restaurant) == expected, WAIT)
    assert live.get(f"{restaurant}-b").state.context["status"] == "cooking"
    assert {(c.kind, c.instance) for c in heard} == {
        ("leave", f"{restaurant}-a"), ("update", f"{restaurant}-b"),
        ("enter", f"{restaurant}-d"), ("enter", f"{restaurant}-e")}
    await handles["c"].send({"type": "SET", "status": "ready"})  # live again after the reload
    await live.wait_for(lambda q: q.get(f"{restaurant}-c").state.context["status"] == "ready",
                        WAIT)


def _mine(live: LiveQuery, restaurant: str) -> list[str]:
    """The live query's names from this test's restaurant (in the live query's order)."""
    return [n for n in live.names if n.startswith(f"{restaurant}-")
            and n.count("-") == restaurant.count("-") + 1]
