"""Queries, live queries, `can()` and the React provider of the browser SDK, on the task board
app (tests/e2e/apps/board): a real server, Debian's Chromium, another writer over HTTP.

Before the handover is made a certainty by holding Pyodide's files back (`HeldRuntime`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from e2e_harness import REPO, HeldRuntime, token
from playwright.sync_api import Page, expect

from statesync_server.testing import ServerProcess

REDEPLOYED = REPO / "tests" / "e2e" / "apps" / "board" / "redeployed.py"  # no column index
LIVE = 60_000  # ms: Pyodide's cold start on a busy CI box
MANY = 200  # tasks in the query whose changes must cost the same as in a short one

# Installed before the page's scripts: the size (JSON) of every message the page receives from
# the worker, with its op (an event) or the call it answers.
PORT_MESSAGES = """
window.portMessages = [];
for (const proto of [MessagePort.prototype, Worker.prototype]) {
    const { get, set } = Object.getOwnPropertyDescriptor(proto, "onmessage");
    Object.defineProperty(proto, "onmessage", { configurable: true, get, set(handler) {
        set.call(this, (event) => {
            const { op = null, reply = null } = event.data ?? {};
            portMessages.push({ op, reply, bytes: JSON.stringify(event.data).length });
            return handler.call(this, event);
        });
    } });
}
"""


class Writer:
    """Another user changing tasks over the HTTP API."""

    def __init__(self, server: ServerProcess) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30,
                                 headers={"authorization": f"Bearer {token('writer')}"})

    def create(self, name: str, **input: Any) -> None:
        response = self.http.post(f"/v1/instances/task/{name}", json={"input": input})
        assert response.status_code == 201, response.text

    def create_many(self, names: list[str]) -> None:
        """Create tasks named `names` (titled after them), a few at a time."""
        url, headers = self.http.base_url, self.http.headers

        def create(name: str) -> None:
            response = httpx.post(f"{url}/v1/instances/task/{name}", headers=headers,
                                  json={"input": {"title": name}}, timeout=30)
            assert response.status_code == 201, response.text

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(create, names))

    def send(self, name: str, **event: Any) -> None:
        response = self.http.post(f"/v1/instances/task/{name}/events",
                                  json={"event": event, "event_id": uuid.uuid4().hex})
        assert response.status_code == 200, response.text


@pytest.fixture
def writer(board: ServerProcess) -> Iterator[Writer]:
    api = Writer(board)
    yield api
    api.http.close()


@pytest.fixture
def held(page: Page, board: ServerProcess) -> HeldRuntime:
    """A page of the board's origin whose Pyodide cannot boot until `release()`."""
    page.set_default_timeout(LIVE)
    runtime = HeldRuntime(page)
    page.goto(f"{board.url}/statesync/manifest.json")
    return runtime


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["instance"] for item in items]


def test_query_pages_over_http_then_through_the_worker(page: Page, held: HeldRuntime,
                                                       writer: Writer) -> None:
    for points, name in enumerate(["t1", "t2", "t3", "t4", "t5"], start=1):
        writer.create(name, title=name.upper(), points=points)
    writer.create("d1", column="doing", points=3)
    read_all = """async ({ op, value, options }) => {
        const pages = [];
        let cursor = null;
        do {
            const page = await client.query("task", "points", op, value, { ...options, cursor });
            pages.push(page.items.map((i) => [i.instance, i.key, i.context.title]));
            cursor = page.cursor;
        } while (cursor);
        return pages;
    }"""
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
    }""", token("alice"))
    args = {"op": "gte", "value": 2, "options": {"limit": 2, "order": "desc"}}
    over_http = page.evaluate(read_all, args)
    first = page.evaluate("""async () => {
        const page = await client.query("task", "column", "eq", "todo", { limit: 10 });
        return { page, status: client.status.status };
    }""")
    assert held.asked(page)  # the runtime is held: those went over HTTP
    held.release()
    page.evaluate("client.ready")
    through_worker = page.evaluate(read_all, args)
    second = page.evaluate("client.query('task', 'column', 'eq', 'todo', { limit: 10 })")

    expected = [[["t5", 5, "T5"], ["t4", 4, "T4"]], [["t3", 3, "T3"], ["d1", 3, ""]],
                [["t2", 2, "T2"]]]
    assert over_http == through_worker == expected
    assert first["status"] == "connecting"
    assert names(first["page"]["items"]) == ["t1", "t2", "t3", "t4", "t5"]
    assert first["page"] == second  # the same shape either way
    assert first["page"]["cursor"] is None
    assert set(second["items"][0]) == {"machine", "instance", "key", "value", "tags", "context",
                                       "status", "done", "seq", "pending"}
    code = page.evaluate("""() => client.query("task", "nope", "eq", 1)
        .then(() => "resolved", (error) => error.code)""")
    assert code == "not-found"  # no such index


def test_watch_hands_over_and_hears_enter_update_leave(page: Page, held: HeldRuntime,
                                                       writer: Writer) -> None:
    writer.create("a", title="A")
    writer.create("b", title="B")
    first = page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        window.todo = await client.watch("task", "column", "eq", "todo", { limit: 1 });
        window.seen = [];
        todo.subscribe((items, changes) => seen.push({
            items: items.map((i) => i.instance),
            changes: changes.map((c) => [c.kind, c.instance, c.item?.context.assignee ?? null]),
        }));
        return { items: todo.items.map((i) => i.instance), live: todo.live };
    }""", token("alice"))
    assert first == {"items": ["a", "b"], "live": False}  # both pages, over HTTP
    writer.send("b", type="MOVE", column="doing")  # meanwhile: b leaves, c enters
    writer.create("c", title="C")
    held.release()
    page.evaluate("client.ready")
    page.wait_for_function("todo.live && todo.items.map((i) => i.instance).join() === 'a,c'")
    handover = page.evaluate("seen.at(-1)")
    assert handover == {"items": ["a", "c"], "changes": [["leave", "b", None], ["enter", "c", None]]}

    writer.send("a", type="ASSIGN", who="zoe")
    page.wait_for_function("seen.at(-1).changes[0]?.[0] === 'update'")
    writer.send("a", type="MOVE", column="review")
    writer.create("0", title="first")
    page.wait_for_function("todo.items.map((i) => i.instance).join() === '0,c'")
    changes = [change for entry in page.evaluate("seen") for change in entry["changes"]]
    assert changes[-3:] == [["update", "a", "zoe"], ["leave", "a", None], ["enter", "0", None]]

    page.evaluate("todo.close()")
    writer.create("late", title="late")
    page.evaluate("client.query('task', 'column', 'eq', 'todo')")  # after "late" committed
    page.wait_for_timeout(500)
    assert page.evaluate("todo.items.map((i) => i.instance)") == ["0", "c"]  # closed: no change
    page.evaluate("client.close()")


def test_can_answers_from_the_last_pushed_state(page: Page, held: HeldRuntime,
                                                writer: Writer) -> None:
    writer.create("t")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        window.task = await client.instance("task", "t");
    }""", token("alice"))
    assert page.evaluate("task.can('ASSIGN')") is None  # not known before the handover
    held.release()
    page.evaluate("client.ready")
    answers = page.evaluate("""() => ({
        assign: task.can("ASSIGN"), start: task.can({ type: "START" }), close: task.can("CLOSE"),
        move: task.can({ type: "MOVE", column: "nowhere" }), reopen: task.can("REOPEN"),
        unknown: task.can("NOPE"),
    })""")
    # START's guard (an assignee) fails; MOVE's guard needs the payload: the server decides
    assert answers == {"assign": True, "start": False, "close": True, "move": True,
                       "reopen": False, "unknown": False}
    page.evaluate("task.send({ type: 'ASSIGN', who: 'alice' })")
    page.wait_for_function("task.can('START') === true")
    writer.send("t", type="CLOSE")  # someone else's change: pushed with its state
    page.wait_for_function("task.can('REOPEN') === true && task.can('ASSIGN') === false")
    assert page.evaluate("task.hasTag('archived')") is True
    page.evaluate("client.close()")


def test_react_provider_instance_settings_and_live_query(page: Page, board: ServerProcess,
                                                         writer: Writer) -> None:
    writer.create("t1", title="One")
    writer.create("t2", title="Two", column="doing")
    page.set_default_timeout(LIVE)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{board.url}/?token={token('alice')}&task=t1")
    todo = page.locator("#todo li")
    expect(todo).to_have_text(["t1:One"], timeout=LIVE)  # over HTTP first
    expect(page.locator("#status")).to_have_text("live", timeout=LIVE)
    expect(page.locator("#start")).to_be_disabled()  # nobody assigned

    writer.create("t0", title="Zero")  # the live query hears it
    expect(todo).to_have_text(["t0:Zero", "t1:One"], timeout=LIVE)
    page.click("#assign")
    expect(page.locator("#start")).to_be_enabled(timeout=LIVE)
    page.click("#start")
    expect(page.locator("#column")).to_have_text("doing", timeout=LIVE)
    expect(todo).to_have_text(["t0:Zero"], timeout=LIVE)
    expect(page.locator("#task")).to_have_attribute("data-pending", "0", timeout=LIVE)
    expect(page.locator("#theme")).to_have_text("light")
    page.click("#theme")
    expect(page.locator("#theme")).to_have_text("dark", timeout=LIVE)
    assert errors == []


def test_a_live_query_the_server_ends_tells_the_page_and_react(page: Page, board: ServerProcess,
                                                                writer: Writer) -> None:
    writer.create("t1", title="One")
    page.set_default_timeout(LIVE)
    page.goto(f"{board.url}/?token={token('alice')}&task=t1")
    expect(page.locator("#status")).to_have_text("live", timeout=LIVE)
    expect(page.locator("#todo li")).to_have_text(["t1:One"], timeout=LIVE)
    expect(page.locator("#todo")).to_have_attribute("data-ended", "no")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        await client.ready;
        window.todo = await client.watch("task", "column", "eq", "todo");
        window.points = await client.watch("task", "points", "gte", 1);
        window.heard = [];
        todo.onEnd((reason) => heard.push(reason?.code ?? null));
        todo.ended.then((reason) => (window.endedWith = reason?.code ?? null));
    }""", token("alice"))
    assert page.evaluate("todo.live && points.live") is True

    board.app = str(REDEPLOYED)
    board.restart()  # the page reconnects; watching the column index again is refused
    page.wait_for_function("window.endedWith !== undefined")
    ended = page.evaluate("""() => {
        const late = [];
        todo.onEnd((reason) => late.push(reason.code));  // ended already: told at once
        return { endedWith, heard, late, live: todo.live, error: todo.error?.code,
                 items: todo.items.map((i) => i.instance) };
    }""")
    assert ended == {"endedWith": "not-found", "heard": ["not-found"], "late": ["not-found"],
                     "live": False, "error": "not-found", "items": ["t1"]}
    expect(page.locator("#todo")).to_have_attribute("data-ended", "not-found")  # useQuery
    expect(page.locator("#todo li")).to_have_text(["t1:One"])  # the last items stay

    writer.create("t2", title="Two", points=5)  # the other live query was watched again
    page.wait_for_function("points.items.some((i) => i.instance === 't2')")
    assert page.evaluate("points.live && heard.length === 1") is True
    page.evaluate("client.close()")


def test_a_change_posts_only_the_change_not_the_whole_list(page: Page, board: ServerProcess,
                                                           writer: Writer) -> None:
    writer.create_many([f"t{n:03d}" for n in range(MANY)])
    page.add_init_script(PORT_MESSAGES)
    page.set_default_timeout(LIVE)
    page.goto(f"{board.url}/statesync/manifest.json")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        await client.ready;
        window.todo = await client.watch("task", "column", "eq", "todo");
        window.seen = [];
        todo.subscribe((items, changes) => seen.push(...changes.map((c) => [c.kind, c.instance])));
        window.answered = Math.max(...portMessages.filter((m) => m.reply).map((m) => m.bytes));
        portMessages.length = 0;
    }""", token("alice"))
    assert page.evaluate("todo.items.length") == MANY
    answered = page.evaluate("answered")

    writer.send("t010", type="MOVE", column="doing")  # leaves
    writer.send("t020", type="ASSIGN", who="zoe")  # changes
    writer.create("t0055", title="late")  # enters, between t005 and t006
    page.wait_for_function("seen.length === 3")
    posted = page.evaluate("portMessages.filter((m) => m.op === 'query')")
    print(f"the watch's answer: {answered} bytes; its changes: {posted}")
    assert answered > 20_000  # every item, once
    assert posted and all(m["bytes"] < 2_000 for m in posted), posted
    assert page.evaluate("seen") == [["leave", "t010"], ["update", "t020"], ["enter", "t0055"]]

    # applied in the page: the items and their order are the server's
    shown = page.evaluate("todo.items")
    fresh = page.evaluate("""async () => {
        const items = [];
        let cursor = null;
        do {
            const page = await client.query("task", "column", "eq", "todo",
                                            { limit: 1000, cursor });
            items.push(...page.items);
            cursor = page.cursor;
        } while (cursor);
        return items;
    }""")
    assert shown == fresh
    assert [i["instance"] for i in shown[5:8]] == ["t005", "t0055", "t006"]
    assert next(i for i in shown if i["instance"] == "t020")["context"]["assignee"] == "zoe"
    page.evaluate("client.close()")
