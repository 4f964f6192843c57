"""A live query in the browser includes the page's pending changes (the Python client places
them, the worker posts the changes): a task moved by the page leaves one column's query and
enters another's before the server answers, and goes back when the server refuses the move.
The board app (tests/e2e/apps/board) behind a proxy that delays every byte."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from e2e_harness import DelayProxy, HeldRuntime, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

LIVE = 60_000  # ms: Pyodide's cold start on a busy CI box


@pytest.fixture
def slow(board: ServerProcess, relay_to: Callable[[ServerProcess], DelayProxy]) -> DelayProxy:
    return relay_to(board)


def columns(page: Page) -> dict:
    return page.evaluate("""() => ({
        todo: todo.items.map((i) => [i.instance, i.pending]),
        doing: doing.items.map((i) => [i.instance, i.pending]),
    })""")


def test_a_move_enters_and_leaves_live_queries_at_once_and_rolls_back(
        page: Page, board: ServerProcess, slow: DelayProxy) -> None:
    alice = token("alice")
    http = httpx.Client(base_url=board.url, headers={"authorization": f"Bearer {alice}"})
    assert http.post("/v1/instances/task/t1", json={"input": {"title": "One"}}).status_code == 201
    page.set_default_timeout(LIVE)
    page.goto(f"{slow.url}/statesync/manifest.json")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        await client.ready;
        window.task = await client.instance("task", "t1");
        window.todo = await client.watch("task", "column", "eq", "todo");
        window.doing = await client.watch("task", "column", "eq", "doing");
        window.heard = [];
        doing.subscribe((items, changes) => heard.push(...changes.map((c) => c.kind)));
    }""", alice)
    assert columns(page) == {"todo": [["t1", 0]], "doing": []}

    slow.delay = 1.0  # every byte, both ways: the server answers a send after >= 2 s
    page.evaluate("""() => { window.moved = task.send({ type: "MOVE", column: "doing" }); }""")
    page.wait_for_function("doing.items.length === 1")
    assert columns(page) == {"todo": [], "doing": [["t1", 1]]}  # before the server answered
    page.evaluate("() => moved")
    page.wait_for_function("doing.items[0]?.pending === 0")
    assert columns(page) == {"todo": [], "doing": [["t1", 0]]}
    assert "leave" not in page.evaluate("heard")  # confirmed: it never left meanwhile

    page.evaluate("""() => {
        window.before = heard.length;
        window.refused = task.send({ type: "MOVE", column: "todo" }).catch((e) => e.code);
    }""")
    page.wait_for_function("todo.items.length === 1")
    assert columns(page) == {"todo": [["t1", 1]], "doing": []}  # moved optimistically...
    closed = http.post("/v1/instances/task/t1/events",  # ...while someone else closes the task
                       json={"event": {"type": "CLOSE"}, "event_id": "close-t1"})
    assert closed.status_code == 200, closed.text
    assert page.evaluate("() => refused") == "event-not-accepted"  # closed: no MOVE
    page.wait_for_function("doing.items[0]?.pending === 0 && todo.items.length === 0")
    assert columns(page) == {"todo": [], "doing": [["t1", 0]]}  # back where the server has it
    rolled = page.evaluate("heard.slice(before)")
    assert rolled[:2] == ["leave", "enter"], rolled  # then the closed state, an update
    page.evaluate("client.close()")


def test_an_instance_a_query_returned_opens_without_a_request(page: Page,
                                                              board: ServerProcess) -> None:
    alice = token("alice")
    http = httpx.Client(base_url=board.url, headers={"authorization": f"Bearer {alice}"})
    for name in ("t1", "t2"):
        assert http.post(f"/v1/instances/task/{name}", json={"input": {"title": name}}).is_success
    page.set_default_timeout(LIVE)
    held = HeldRuntime(page)  # before the handover: everything over HTTP
    page.goto(f"{board.url}/statesync/manifest.json")
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url)
            if "/v1/instances/" in request.url else None)
    opened = page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        const column = await client.watch("task", "column", "eq", "todo");
        const cards = await Promise.all(column.items.map((i) => client.instance("task", i.instance)));
        return cards.map((card) => [card.name, card.state.context.title, card.state.seq]);
    }""", alice)
    assert opened == [["t1", "t1", 0], ["t2", "t2", 0]]
    assert asked == []  # the query's items were the state: no GET (nor preflight) per card
    held.release()
    page.evaluate("() => client.ready")
    page.evaluate("client.close()")
