"""Interactive from the first state: before the runtime is up a send goes straight to the
server over HTTP and the confirmed state shows with its answer; sends made across the
handover to the worker's Python client keep their event ids, so each is applied exactly once.
Real Chromium, a real server, and a proxy that delays every byte in between; Pyodide's files
are held back (`HeldRuntime`) until the test lets the runtime boot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from e2e_harness import DelayProxy, HeldRuntime, token
from playwright.sync_api import Page, Request, Route
from test_sdk_boot import Api, run

DELAY = 0.1  # s each way: a round trip of at least 0.2 s


@pytest.fixture
def slow(page: Page, proxy: DelayProxy) -> Iterator[tuple[Page, HeldRuntime, list[str]]]:
    """A page of the proxy's origin, Pyodide held back, every `POST .../events` recorded."""
    page.set_default_timeout(60_000)
    held = HeldRuntime(page)
    posted: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/events"):
            posted.append(request.post_data_json["event_id"])

    page.on("request", record)
    page.goto(f"{proxy.url}/statesync/manifest.json")
    proxy.delay = DELAY
    yield page, held, posted


@pytest.fixture
def alice(server) -> Iterator[Api]:
    api = Api(server, "alice")
    yield api
    api.http.close()


def test_a_send_before_the_runtime_is_confirmed_in_one_round_trip(
        slow: tuple[Page, HeldRuntime, list[str]], alice: Api) -> None:
    page, held, posted = slow
    shown = run(page, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        const seen = [];
        todo.subscribe((s) => seen.push([s.seq, s.pending, s.context.items.map((i) => i.text)]));
        const seq = await within(todo.send({ type: "ADD", text: "milk" }));
        const rejected = await code(todo.send({ type: "ADD", text: "x".repeat(50) }));
        window.t = { client, todo };
        return { seq, seen, rejected, state: todo.state, booted: booted(), status: client.status };
    """, token("alice"))
    assert held.asked(page), "the runtime's files were asked for"
    assert shown["booted"] is False and shown["status"]["status"] == "connecting"
    assert shown["seq"] == 1
    # pending at once, then the server's state with the answer (the send resolves after it)
    assert shown["seen"] == [[0, 0, []], [0, 1, []], [1, 0, ["milk"]], [1, 1, ["milk"]],
                             [1, 0, ["milk"]]]
    assert shown["rejected"] == "invalid-event"
    assert shown["state"]["context"]["items"] == [{"id": 1, "text": "milk", "done": False}]
    assert len(posted) == 2 and alice.state("todo", "alice")["seq"] == 1


def test_clicks_during_boot_and_across_the_handover_are_applied_exactly_once(
        slow: tuple[Page, HeldRuntime, list[str]], alice: Api) -> None:
    page, held, posted = slow
    run(page, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        const saves = [];
        for (let i = 0; i < 3; i++) saves.push(todo.send({ type: "ADD", text: `boot ${i}` }));
        window.t = { client, todo, saves };
    """, token("alice"))
    assert held.asked(page)
    held.release()
    # A click every 30 ms (faster than a round trip: a queue builds up) until the Python
    # client took over, and 5 more after: some go over HTTP, the rest through the worker.
    done = run(page, """
        const { client, todo, saves } = window.t;
        let live = false;
        client.ready.then(() => (live = true));
        let i = 0;
        for (let after = 0; after < 5 && i < 2000; i++) {
            saves.push(todo.send({ type: "ADD", text: `click ${i}` }));
            if (live) after++;
            await new Promise((resolve) => setTimeout(resolve, 30));
        }
        const seqs = await within(Promise.all(saves), 60000);
        while (client.status.unsaved) await new Promise((resolve) => setTimeout(resolve, 10));
        return { seqs, items: todo.state.context.items.map((item) => item.text),
                 status: client.status.status, clicks: i };
    """)
    texts = [f"boot {i}" for i in range(3)] + [f"click {i}" for i in range(done["clicks"])]
    assert done["status"] == "live"
    assert done["seqs"] == list(range(1, len(texts) + 1))
    assert done["items"] == texts
    stored = alice.state("todo", "alice")  # once each, in order
    assert [item["text"] for item in stored["context"]["items"]] == texts
    assert stored["seq"] == len(texts)  # gap-free: one seq per applied event
    assert 3 <= len(posted) < len(texts)  # the first over HTTP, the rest through the worker
    assert len(set(posted)) == len(posted)  # no retry was needed


def test_a_send_whose_http_answer_was_lost_at_the_handover_is_applied_once(
        slow: tuple[Page, HeldRuntime, list[str]], alice: Api) -> None:
    """The server applies the POST, its answer never reaches the page (the connection
    drops): the event is sent again with the same id (by the worker once it has taken over,
    or over HTTP before), and the server answers it as a duplicate."""
    page, held, posted = slow
    routes: list[Route] = []
    page.route("**/v1/instances/todo/alice/events", lambda route: routes.append(route))
    run(page, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        window.t = { client, todo, saving: todo.send({ type: "ADD", text: "once" }) };
    """, token("alice"))
    assert held.asked(page)
    held.release()
    run(page, "await within(loadRuntime(), 60000);"
              "await new Promise((resolve) => setTimeout(resolve, 500));")  # the handover begins
    for _ in range(100):
        if routes:
            break
        page.wait_for_timeout(50)
    lost = routes.pop()
    lost.fetch()  # the server applies it...
    lost.abort("connectionreset")  # ...and the page never hears
    page.unroute("**/v1/instances/todo/alice/events")
    done = run(page, """
        const { client, todo, saving } = window.t;
        const seq = await within(saving, 60000);
        await within(client.ready, 60000);
        const after = await within(todo.send({ type: "ADD", text: "after" }), 60000);
        return { seq, after, items: todo.state.context.items.map((item) => item.text) };
    """)
    assert done == {"seq": 1, "after": 2, "items": ["once", "after"]}
    stored = alice.state("todo", "alice")
    assert [item["text"] for item in stored["context"]["items"]] == ["once", "after"]
    assert stored["seq"] == 2
    assert len(set(posted)) == 1  # over HTTP, each time with the one id
