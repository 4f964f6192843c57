"""A live query the server ends is surfaced by the Python client: `ended` gives the reason,
`on_end` listeners hear it once, and `async for change in live` stops. The server is restarted
into tests/live/apps/restaurant_redeployed.py: the re-watch of a removed index is refused
after the reconnect, and a later projection failure ends a watch that came back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from statesync import Client
from statesync.client import Change, ClientError, LiveQuery
from statesync_server.testing import ServerProcess

APPS = Path(__file__).parent / "apps"
WAIT = 15.0


@pytest.fixture
def redeployable(tmp_path: Path) -> Iterator[ServerProcess]:
    """The restaurant server, of its own: the test restarts it into another app."""
    process = ServerProcess(APPS / "restaurant.py", tmp_path / "end.db").start()
    yield process
    process.stop()


async def collect(live: LiveQuery) -> list[Change]:
    """Every change `async for` yields until the query ends."""
    return [change async for change in live]


async def test_the_server_ending_a_watch_ends_the_live_query(
        redeployable: ServerProcess, make_client: Callable[..., Client]) -> None:
    server = redeployable
    customer = make_client(server.url, token=server.mint("carol"))
    staff = make_client(server.url, token=server.mint("cook", restaurant="luigi"))
    soup = await customer.instance("order", "soup", create={"restaurant": "luigi",
                                                            "customer": "carol"})
    by_status = await staff.watch("order", "status", "eq", "new")
    by_restaurant = await staff.watch("order", "restaurant", "eq", "luigi")
    assert by_status.names == by_restaurant.names == ["soup"]
    heard: list[ClientError | None] = []
    by_status.on_end(heard.append)
    iterations = [asyncio.ensure_future(collect(q)) for q in (by_status, by_restaurant)]
    assert not by_status.ended.done() and not by_status.closed

    server.app = str(APPS / "restaurant_redeployed.py")  # the status index is gone
    server.restart()
    reason = await asyncio.wait_for(by_status.ended, WAIT)  # refused when watched again
    assert isinstance(reason, ClientError) and reason.code == "not-found"
    assert by_status.closed and by_status.error is reason and heard == [reason]
    assert await asyncio.wait_for(iterations[0], WAIT) == []  # stopped, nothing changed
    assert not by_restaurant.ended.done()
    await by_restaurant.wait_for(  # watched again: the new projection, told as an update
        lambda q: q.get("soup").state.context["items"] == "", WAIT)

    await soup.send({"type": "SET", "items": ["soup"]})
    await by_restaurant.wait_for(
        lambda q: q.get("soup").state.context["items"] == "soup", WAIT)
    await soup.send({"type": "SET", "items": [2]})  # the kitchen's view cannot show it
    reason = await asyncio.wait_for(by_restaurant.ended, WAIT)
    assert isinstance(reason, ClientError) and reason.code == "internal"
    changes = await asyncio.wait_for(iterations[1], WAIT)
    assert [(c.kind, c.item and c.item.state.context["items"]) for c in changes] == [
        ("update", ""), ("update", "soup")]
    assert staff.status == "live"  # the client lives on
    late: list[ClientError | None] = []
    by_status.on_end(late.append)  # already ended: told at once
    assert late == [by_status.error] and heard == [by_status.error]


async def test_closing_a_live_query_ends_it_without_a_reason(
        redeployable: ServerProcess, make_client: Callable[..., Client]) -> None:
    staff = make_client(redeployable.url, token=redeployable.mint("cook", restaurant="luigi"))
    live = await staff.watch("order", "restaurant", "eq", "luigi")
    iteration = asyncio.ensure_future(collect(live))
    await asyncio.sleep(0)  # the iteration is waiting for a change
    await live.close()
    assert await asyncio.wait_for(live.ended, WAIT) is None and live.error is None
    assert await asyncio.wait_for(iteration, WAIT) == []
