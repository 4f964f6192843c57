"""The browser SDK while Pyodide boots: the server's state over HTTP at once, sends queued in
order, then a transparent handover to the Python client. Pyodide's files are held back
(`HeldRuntime`) so that "before the runtime" is a certainty, not a race."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from e2e_harness import HeldRuntime, token
from playwright.sync_api import Page, WebSocket

from statesync.settings import SETTINGS_MACHINE, settings_instance
from statesync.snapshot import matches_state
from statesync_server.testing import ServerProcess

# Runs first in every page function below: `within` fails a promise that does not settle in
# time (rather than hanging the test), and the SDK's exports.
PRELUDE = """
    const within = (promise, ms = 5000) => Promise.race([promise, new Promise((_, reject) =>
        setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);
    const { connect, loadRuntime, matchesState } = await import("/statesync/sdk/statesync.js");
    const code = async (promise) => {
        try { await promise; return "resolved"; } catch (error) { return error.code; }
    };
    const booted = () => performance.getEntriesByName("statesync:pyodide").length > 0;
"""
LIVE = 60_000  # ms: Pyodide's cold start on a busy CI box


def run(page: Page, body: str, arg: Any = None) -> Any:
    """Evaluate `body` (an async function body of `arg`) after PRELUDE in the page."""
    return page.evaluate(f"async (arg) => {{ {PRELUDE} {body} }}", arg)


class Api:
    """The server's HTTP API as `sub`: the other client, and the source of truth."""

    def __init__(self, server: ServerProcess, sub: str) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=10,
                                 headers={"Authorization": f"Bearer {token(sub)}"})

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.is_success, response.text
        return response.json()

    def create(self, machine: str, name: str) -> None:
        self.call("POST", f"/v1/instances/{machine}/{name}", {"input": {}})

    def send(self, machine: str, name: str, event: dict[str, Any]) -> int:
        body = {"event": event, "event_id": uuid.uuid4().hex}
        return self.call("POST", f"/v1/instances/{machine}/{name}/events", body)["seq"]

    def state(self, machine: str, name: str) -> dict[str, Any]:
        return self.call("GET", f"/v1/instances/{machine}/{name}")

    def events(self, machine: str, name: str) -> list[dict[str, Any]]:
        log = self.call("GET", f"/v1/instances/{machine}/{name}/events")
        return [entry["event"] for entry in log["entries"]]


@pytest.fixture
def held(blank: Page) -> HeldRuntime:
    runtime = HeldRuntime(blank)
    blank.reload()
    return runtime


def connection(status: dict[str, Any]) -> dict[str, Any]:
    """`client.status` without the boot's progress (`phase`, `loaded`, `total`)."""
    return {key: status[key] for key in ("status", "unsaved", "subject")}


@pytest.fixture
def alice(server: ServerProcess) -> Iterator[Api]:
    api = Api(server, "alice")
    yield api
    api.http.close()


PREFS = settings_instance("prefs", "alice")


def test_servers_state_is_shown_before_pyodide_has_loaded(blank: Page, held: HeldRuntime,
                                                          alice: Api) -> None:
    alice.create("todo", "alice")
    alice.send("todo", "alice", {"type": "ADD", "text": "milk"})
    alice.create(SETTINGS_MACHINE, PREFS)
    alice.send(SETTINGS_MACHINE, PREFS, {"type": "SET", "key": "theme", "value": "dark"})

    before = run(blank, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice"));
        const prefs = await within(client.settings("prefs", { theme: "light", size: 14 }));
        window.t = { client, todo, calls: 0 };
        todo.subscribe(() => window.t.calls++);
        return { state: todo.state, values: prefs.values, status: client.status, booted: booted(),
                 matches: [todo.matches("active"), todo.matches("done")], tag: todo.hasTag("x"),
                 pending: todo.pending };
    """, token("alice"))
    assert held.asked(blank), "the runtime's files were asked for"
    assert before["status"].pop("phase") in {"http", "loading-runtime"}
    before["status"] = connection(before["status"])
    assert before == {
        "state": {"value": "active", "tags": [], "status": "active", "done": False, "seq": 1,
                  "pending": 0, "context": {"items": [{"id": 1, "text": "milk", "done": False}],
                                            "next_id": 2}},
        "values": {"theme": "dark", "size": 14},
        "status": {"status": "connecting", "unsaved": 0, "subject": "alice"},
        "booted": False, "matches": [True, False], "tag": False, "pending": [],
    }

    held.release()
    after = run(blank, """
        await within(window.t.client.ready, 60000);
        const { client, todo, calls } = window.t;
        return { state: todo.state, status: client.status, calls, booted: booted() };
    """)
    assert after == {"state": before["state"], "calls": 1, "booted": True,  # nothing new to show
                     "status": {"status": "live", "unsaved": 0, "subject": "alice",
                                "phase": "live"}}


def test_sends_during_boot_go_to_the_server_at_once(blank: Page, held: HeldRuntime,
                                                    alice: Api) -> None:
    sent = run(blank, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        const prefs = await within(client.settings("prefs", { theme: "light" }));
        const seen = [];
        todo.subscribe((s) => seen.push([s.seq, s.pending, s.context.items.map((i) => i.text)]));
        const statuses = [];
        client.onStatus((s) => {  // also called on the boot's progress: keep the changes only
            const now = `${s.status} ${s.unsaved}`;
            if (statuses.at(-1) !== now) statuses.push(now);
        });
        const saves = [todo.send({ type: "ADD", text: "milk" }), prefs.set("theme", "dark"),
                       todo.send("CLEAR_DONE")];
        const at_once = { pending: todo.pending, statePending: todo.state.pending,
                          values: prefs.values, saved: prefs.saved, status: client.status };
        const seqs = await within(Promise.all(saves));
        window.t = { client, todo };
        return { at_once, seqs, seen, statuses, items: todo.state.context.items,
                 values: prefs.values, status: client.status, booted: booted() };
    """, token("alice"))
    sent["at_once"]["status"] = connection(sent["at_once"]["status"])
    assert sent["at_once"] == {
        "pending": [{"type": "ADD", "text": "milk"}, {"type": "CLEAR_DONE"}], "statePending": 2,
        "values": {"theme": "dark"}, "saved": False,   # settings changes show at once
        "status": {"status": "connecting", "unsaved": 3, "subject": "alice"},
    }
    assert sent["booted"] is False  # confirmed by the server over HTTP, no runtime needed
    assert sent["seqs"] == [1, 1, 2]
    assert sent["items"] == [{"id": 1, "text": "milk", "done": False}]
    assert sent["values"] == {"theme": "dark"}
    assert connection(sent["status"]) == {"status": "connecting", "unsaved": 0, "subject": "alice"}
    assert sent["statuses"][:4] == ["connecting 0", "connecting 1", "connecting 2", "connecting 3"]
    assert sent["statuses"][-1] == "connecting 0"
    assert sent["seen"][0] == [0, 0, []] and sent["seen"][-1] == [2, 0, ["milk"]]
    seqs = [seq for seq, _pending, _items in sent["seen"]]
    assert seqs == sorted(seqs)
    # A second client sees each change exactly once, in order.
    assert [e["type"] for e in alice.events("todo", "alice")[1:]] == ["ADD", "CLEAR_DONE"]
    assert alice.state(SETTINGS_MACHINE, PREFS)["context"] == {"values": {"theme": "dark"}}
    assert alice.state(SETTINGS_MACHINE, PREFS)["seq"] == 1

    held.release()
    after = run(blank, """
        await within(window.t.client.ready, 60000);
        return { seq: window.t.todo.state.seq, status: window.t.client.status };
    """)
    assert after == {"seq": 2, "status": {"status": "live", "unsaved": 0, "subject": "alice",
                                          "phase": "live"}}
    assert alice.state("todo", "alice")["seq"] == 2  # nothing sent twice at the handover


def test_update_by_another_client_during_boot_shows_after_handover(
        blank: Page, held: HeldRuntime, alice: Api) -> None:
    run(blank, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        const seen = [];
        todo.subscribe((s) => seen.push([s.seq, s.context.items.map((i) => i.text)]));
        window.t = { client, todo, seen };
    """, token("alice"))
    assert alice.send("todo", "alice", {"type": "ADD", "text": "bread"}) == 1

    held.release()
    seen = run(blank, """
        const { client, todo, seen } = window.t;
        await within(client.ready, 60000);
        while (todo.state.seq < 1) await new Promise((resolve) => setTimeout(resolve, 10));
        return seen;
    """)
    assert seen == [[0, []], [1, ["bread"]]]


def test_errors_are_reported_while_pyodide_boots(blank: Page, held: HeldRuntime) -> None:
    codes = run(blank, """
        const client = await within(connect({ token: arg.good }));
        const codes = {
            badToken: await within(code(connect({ token: arg.bad }))),
            noMachine: await within(code(client.instance("no-such-machine", "x"))),
            noInstance: await within(code(client.instance("todo", "alice"))),
            forbidden: await within(code(client.instance("todo", "bob", { create: {} }))),
            namespace: await within(code(client.settings("not a namespace"))),
        };
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        codes.notAnEvent = await code(todo.send({ text: "no type" }));
        codes.booted = booted();
        return codes;
    """, {"good": token("alice"), "bad": token("alice") + "x"})
    assert codes == {"badToken": "unauthenticated", "noMachine": "not-found",
                     "noInstance": "not-found", "forbidden": "forbidden",
                     "namespace": "invalid-message", "notAnEvent": "invalid-event",
                     "booted": False}


def test_close_during_boot_leaves_no_python_client(blank: Page, held: HeldRuntime,
                                                   alice: Api) -> None:
    sockets: list[WebSocket] = []
    blank.on("websocket", lambda socket: sockets.append(socket))
    closed = run(blank, """
        const client = await within(connect({ token: arg }));
        const todo = await within(client.instance("todo", "alice", { create: {} }));
        const saved = todo.send({ type: "ADD", text: "under way" });  // posted at once
        const unsent = todo.send({ type: "ADD", text: "never sent" });
        await within(client.close());
        return { saved: await code(saved), unsent: await code(unsent),
                 ready: await code(client.ready),
                 again: await code(client.instance("todo", "alice")), status: client.status,
                 pending: todo.state.pending };
    """, token("alice"))
    closed["status"] = connection(closed["status"])
    assert closed == {"saved": "resolved", "unsent": "closed", "ready": "closed", "again": "closed",
                      "status": {"status": "offline", "unsaved": 0, "subject": "alice"},
                      "pending": 0}

    held.release()
    info = run(blank, """
        await within(loadRuntime(), 60000);  // the boot the client started goes on, unused
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return loadRuntime();
    """)
    assert info["connections"] == 0 and info["boots"] == 1  # no Python client was made
    # the page's own socket (others' changes before the handover) went with the client
    assert len(sockets) <= 1 and all(socket.is_closed() for socket in sockets)
    assert alice.state("todo", "alice")["context"]["items"][0]["text"] == "under way"
    assert alice.state("todo", "alice")["seq"] == 1  # the one posted before close() only


@pytest.mark.parametrize("subtle", [True, False], ids=["crypto.subtle", "hashed-in-python"])
def test_settings_of_a_subject_with_characters_names_cannot_hold(
        page: Page, server: ServerProcess, subtle: bool) -> None:
    if not subtle:  # as on a page served over plain HTTP from another host than localhost
        page.add_init_script("Object.defineProperty(Crypto.prototype, 'subtle', {get() {}})")
    page.goto(f"{server.url}/statesync/manifest.json")
    subject = "auth0|1234 5678"
    seq = run(page, """
        const client = await within(connect({ token: arg }));
        const prefs = await within(client.settings("prefs", { theme: "light" }), 60000);
        const seq = await within(prefs.set("theme", "dark"), 60000);
        await client.close();
        return seq;
    """, token(subject))
    assert seq == 1
    api = Api(server, subject)
    name = settings_instance("prefs", subject)
    assert name.startswith("prefs~h-")
    assert api.state(SETTINGS_MACHINE, name)["context"] == {"values": {"theme": "dark"}}


MATCHES = [
    ("a", "a"), ("a", "b"), ("a", {"a": "b"}), ("a.b", {"a": "b"}), ("a.b", {"a": {"b": "c"}}),
    ("a.b.c", {"a": {"b": "c"}}), ("a.c", {"a": {"b": "c"}}), ({"a": "b"}, {"a": {"b": "c"}}),
    ({"a": {"b": "d"}}, {"a": {"b": "c"}}), ("a\\.b", {"a.b": "x"}), ("a\\.b", "a.b"),
    ("a.b", "a.b"), ({"p": {"x": "1"}}, {"p": {"x": "1", "y": "2"}}),
    ({"p": {"x": "1", "y": "3"}}, {"p": {"x": "1", "y": "2"}}), ("p", {"p": {"x": "1"}}),
    ({}, {"a": "b"}), ("b", {"a": "b"}),
]


def test_matches_before_the_handover_agrees_with_the_python_client(blank: Page) -> None:
    got = run(blank, "return arg.map(([parent, child]) => matchesState(parent, child));", MATCHES)
    assert got == [matches_state(parent, child) for parent, child in MATCHES]
