"""Others' changes show live without the Python runtime: before it is up (Pyodide's files held
back) and where it cannot start at all (server-direct), the page's own WebSocket subscribes
each handle with `since` its seq, shows updates in seq order (never an older one after a newer
one, none twice), resubscribes with `since` after a drop, and closes at the handover. Real
Chromium, a real server, and a proxy that delays every byte in between; the other client is
the test's HTTP client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_harness import DelayProxy, HeldRuntime, token
from playwright.sync_api import Page, WebSocket
from test_sdk_boot import Api, run

from statesync_server.testing import ServerProcess

DELAY = 0.1  # s each way

# In the page: open alice's todo list and record every state its subscribers see.
OPEN = """
    const client = await within(connect({ token: arg }));
    const todo = await within(client.instance("todo", "alice", { create: {} }));
    const seen = [];
    todo.subscribe((s) => seen.push([s.seq, s.pending, s.context.items.map((i) => i.text)]));
    const shows = (seq) => within((async () => {
        while (todo.state.seq < seq) await new Promise((resolve) => setTimeout(resolve, 20));
    })(), 20000);
    window.t = { client, todo, seen, shows };
    return client.status;
"""


@pytest.fixture
def no_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
               serve: Callable[..., ServerProcess]) -> ServerProcess:
    """The example app on a server with no browser runtime to offer: pages work
    server-direct."""
    monkeypatch.setenv("STATESYNC_PYODIDE_DIR", str(tmp_path / "no-pyodide"))
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "pyodide")
    return serve()


def sockets(page: Page) -> list[WebSocket]:
    """The page's WebSockets (its main thread's), as they are opened."""
    opened: list[WebSocket] = []
    page.on("websocket", lambda ws: opened.append(ws))
    return opened


def confirmed(seen: list[list]) -> list[int]:
    """The seqs of the confirmed states shown (nothing pending), in order."""
    return [seq for seq, pending, _ in seen if pending == 0]


def test_others_changes_show_before_the_runtime_and_the_socket_closes_at_the_handover(
        page: Page, proxy: DelayProxy, server: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    held = HeldRuntime(page)
    opened = sockets(page)
    page.goto(f"{proxy.url}/statesync/manifest.json")
    proxy.delay = DELAY
    other = Api(server, "alice")  # alice on another device
    try:
        status = run(page, OPEN, token("alice"))
        assert held.asked(page) and status["status"] == "connecting"
        other.send("todo", "alice", {"type": "ADD", "text": "from the phone"})
        run(page, "await window.t.shows(1);")  # without reopening the handle
        run(page, "await within(window.t.todo.send({ type: 'ADD', text: 'from the page' }));")
        other.send("todo", "alice", {"type": "ADD", "text": "again from the phone"})
        before = run(page, "await window.t.shows(3); return window.t.seen;")
        assert before[-1] == [3, 0, ["from the phone", "from the page", "again from the phone"]]
        seqs = [seq for seq, _, _ in before]
        assert seqs == sorted(seqs)  # never an older seq after a newer one
        assert len(set(confirmed(before))) == len(confirmed(before))  # none shown twice
        direct = [ws for ws in opened if ws.url.endswith("/v1/ws")]
        assert len(direct) == 1 and not direct[0].is_closed()

        held.release()
        run(page, "await within(window.t.client.ready, 60000);")
        other.send("todo", "alice", {"type": "ADD", "text": "after the handover"})
        after = run(page, "await window.t.shows(4); return window.t.seen;")
        assert confirmed(after) == [0, 1, 2, 3, 4][-len(confirmed(after)):]
        assert after[-1][2][-1] == "after the handover"
        for _ in range(100):  # bounded: the page closes its own socket at the handover
            if direct[0].is_closed():
                break
            page.wait_for_timeout(50)
        assert direct[0].is_closed()
    finally:
        other.http.close()


def test_others_changes_made_during_the_handover_show_once_each_in_order(
        page: Page, proxy: DelayProxy, server: ServerProcess) -> None:
    """Another client writes every round trip while the worker's client takes over (the
    page's socket still following, the worker's subscribing): the page shows the last state,
    never an older seq after a newer one, no state twice."""
    page.set_default_timeout(60_000)
    held = HeldRuntime(page)
    page.goto(f"{proxy.url}/statesync/manifest.json")
    proxy.delay = DELAY
    other = Api(server, "alice")
    try:
        run(page, OPEN, token("alice"))
        assert held.asked(page)
        held.release()
        texts: list[str] = []
        for i in range(2000):  # bounded: until live, then 3 more
            texts.append(f"change {i}")
            other.send("todo", "alice", {"type": "ADD", "text": texts[-1]})
            if run(page, "return window.t.client.status.status;") == "live":
                break
        for i in range(3):
            texts.append(f"after {i}")
            other.send("todo", "alice", {"type": "ADD", "text": texts[-1]})
        seen = run(page, "await window.t.shows(arg); return window.t.seen;", len(texts))
        shown = confirmed(seen)
        assert shown == sorted(set(shown))  # in seq order, none twice
        assert seen[-1] == [len(texts), 0, texts]
    finally:
        other.http.close()


def test_a_server_direct_page_shows_others_changes_and_resumes_after_a_drop(
        page: Page, no_runtime: ServerProcess,
        relay_to: Callable[[ServerProcess], DelayProxy]) -> None:
    page.set_default_timeout(60_000)
    relay = relay_to(no_runtime)
    opened = sockets(page)
    other = Api(no_runtime, "alice")
    try:
        page.goto(f"{relay.url}/statesync/manifest.json")
        relay.delay = DELAY
        run(page, OPEN, token("alice"))
        ready = run(page, "return await within(code(window.t.client.ready), 30000);")
        assert ready == "not-found"
        assert run(page, "return window.t.client.status.status;") == "direct"
        other.send("todo", "alice", {"type": "ADD", "text": "one"})
        run(page, "await window.t.shows(1);")

        relay.drop()  # the socket (and any HTTP connection) is cut; the page resubscribes
        other.send("todo", "alice", {"type": "ADD", "text": "two"})
        other.send("todo", "alice", {"type": "ADD", "text": "three"})
        seen = run(page, "await window.t.shows(3); return window.t.seen;")
        # every seq once, in order: the updates missed during the drop are replayed
        assert confirmed(seen) == [0, 1, 2, 3]
        assert seen[-1] == [3, 0, ["one", "two", "three"]]
        assert len([ws for ws in opened if ws.url.endswith("/v1/ws")]) >= 2  # reconnected
    finally:
        other.http.close()
