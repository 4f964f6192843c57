"""The browser SDK while the server cannot be reached: sends kept in IndexedDB survive a
reload and are applied exactly once; a page opened during an outage shows the last known
state, says it is offline and becomes live by itself. The page's own origin stays up; the
statesync server is reached through a proxy that cuts the connection (a static site and an
API server apart, as deployed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from e2e_harness import EXAMPLE_APP, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess, TcpProxy, get_state

# The number of unsent events the page's outbox holds (kind `o` records, sdk_web/outbox.js).
OUTBOX_SIZE = """() => new Promise((resolve, reject) => {
    const opening = indexedDB.open("statesync");
    opening.onerror = () => reject(opening.error);
    opening.onsuccess = () => {
        const db = opening.result;
        const keys = db.transaction("records").objectStore("records").getAllKeys();
        keys.onsuccess = () => {
            db.close();
            resolve(keys.result.filter((key) => key.includes("\\u0000o\\u0000")).length);
        };
    };
})"""

# Resolves once `client.status` satisfies `test` (bounded by Playwright's timeout).
UNTIL_STATUS = """(test) => new Promise((resolve) => {
    const off = window.client.onStatus((status) => {
        if (eval(test)(status)) { queueMicrotask(() => off()); resolve(status); }
    });
})"""

# Resolves once the todo handle's state satisfies `test`.
UNTIL_STATE = """(test) => new Promise((resolve) => {
    const off = window.todo.subscribe((state) => {
        if (eval(test)(state)) { queueMicrotask(() => off()); resolve(state); }
    });
})"""

CONNECT = """async ({ url, token }) => {
    const { connect } = await import("/statesync/sdk/statesync.js");
    window.client = await connect({ url, token, timeout: 5 });
    window.todo = await window.client.instance("todo", "alice", { create: {} });
    return { state: window.todo.state, status: window.client.status };
}"""


@pytest.fixture
def api(serve: Callable[..., ServerProcess]) -> ServerProcess:
    """The example app, allowing pages of any origin (the page is on the server's own port,
    the SDK talks to the proxy's)."""
    return serve(EXAMPLE_APP, "--cors-origin", "*")


@pytest.fixture
def relay(api: ServerProcess) -> Iterator[TcpProxy]:
    proxy = TcpProxy(api.port).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def site(page: Page, api: ServerProcess) -> Page:
    """A page of a site that stays up (the server's own port, not through the proxy)."""
    page.set_default_timeout(60_000)
    page.goto(f"{api.url}/statesync/manifest.json")
    return page


def texts(state: dict) -> list[str]:
    return [item["text"] for item in state["context"]["items"]]


def live_then_cut(site: Page, relay: TcpProxy, user: str) -> None:
    """The page connects as `user` through `relay` and goes live; then the relay cuts."""
    site.evaluate(CONNECT, {"url": relay.url, "token": user})
    site.evaluate("() => window.client.ready")
    relay.cut(down=True)
    site.evaluate(UNTIL_STATUS, "(s) => s.status !== 'live'")


def test_offline_sends_survive_a_reload_and_are_applied_once(
        site: Page, api: ServerProcess, relay: TcpProxy) -> None:
    alice = token("alice")
    live_then_cut(site, relay, alice)
    shown = site.evaluate("""async () => {
        for (const text of ["a", "b", "c"]) window.todo.send({ type: "ADD", text }).catch(() => {});
        return window.todo.state;
    }""")
    assert shown["pending"] == 3
    site.evaluate(UNTIL_STATE, "(s) => s.context.items.length === 3")  # optimistic
    site.wait_for_function(f"({OUTBOX_SIZE})().then((n) => n === 3)")

    site.reload()  # the server still cannot be reached
    reopened = site.evaluate(CONNECT, {"url": relay.url, "token": alice})
    assert texts(reopened["state"]) == ["a", "b", "c"]  # the last known state, at once
    assert reopened["state"]["pending"] == 3
    assert reopened["status"]["status"] == "offline" and reopened["status"]["unsaved"] == 3

    relay.restore()  # the page catches up by itself
    site.evaluate("() => window.client.ready")
    final = site.evaluate(UNTIL_STATE, "(s) => s.pending === 0")
    assert texts(final) == ["a", "b", "c"]
    assert texts(get_state(api, "todo", "alice", token=alice)) == ["a", "b", "c"]  # once each
    site.wait_for_function(f"({OUTBOX_SIZE})().then((n) => n === 0)")


def test_a_page_opened_during_an_outage_becomes_live_by_itself(
        site: Page, api: ServerProcess, relay: TcpProxy) -> None:
    relay.cut(down=True)
    bob = token("bob")
    opened = site.evaluate("""async ({ url, token }) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ url, token, timeout: 5 });  // the token's own subject
        window.opening = window.client.instance("todo", "bob", { create: {} });  // retried
        window.opening.then((todo) => (window.todo = todo));
        return window.client.status;
    }""", {"url": relay.url, "token": bob})
    assert opened["status"] == "offline" and opened["subject"] == "bob"

    relay.restore()  # no reload: the instance opens, the handover follows
    site.evaluate("() => window.opening")
    site.evaluate("() => window.client.ready")
    assert site.evaluate("() => window.client.status.status") == "live"
    site.evaluate("() => window.todo.send({ type: 'ADD', text: 'back' })")
    assert texts(get_state(api, "todo", "bob", token=bob)) == ["back"]


def test_signing_out_deletes_what_was_kept_for_that_user(
        site: Page, api: ServerProcess, relay: TcpProxy) -> None:
    alice = token("alice")
    live_then_cut(site, relay, alice)
    site.evaluate("() => { window.todo.send({ type: 'ADD', text: 'x' }).catch(() => {}); }")
    site.wait_for_function(f"({OUTBOX_SIZE})().then((n) => n === 1)")
    site.evaluate("() => window.client.signOut()")
    assert site.evaluate(f"({OUTBOX_SIZE})()") == 0

    site.reload()  # nothing shown of alice's: her saved state went too
    relay.restore()
    opened = site.evaluate(CONNECT, {"url": relay.url, "token": alice})
    assert opened["state"]["context"]["items"] == [] and opened["state"]["pending"] == 0


def test_a_live_query_shows_its_last_items_offline_and_catches_up(
        page: Page, board: ServerProcess) -> None:
    relay = TcpProxy(board.port).start()
    try:
        alice = token("alice")
        http = {"authorization": f"Bearer {alice}"}
        create = f"{board.url}/v1/instances/task"
        assert httpx.post(f"{create}/t1", headers=http, json={"input": {"title": "One"}}).is_success
        page.set_default_timeout(60_000)
        page.goto(f"{board.url}/statesync/manifest.json")  # the site stays up
        watch = """async ({ url, token }) => {
            const { connect } = await import("/statesync/sdk/statesync.js");
            window.client = await connect({ url, token, timeout: 5 });
            window.todo = await client.watch("task", "column", "eq", "todo");
            return todo.items.map((i) => i.instance);
        }"""
        assert page.evaluate(watch, {"url": relay.url, "token": alice}) == ["t1"]
        page.evaluate("() => client.ready")
        page.wait_for_function("todo.live")

        relay.cut(down=True)
        page.reload()
        assert page.evaluate(watch, {"url": relay.url, "token": alice}) == ["t1"]  # last known
        assert page.evaluate("[todo.live, client.status.status]") == [False, "offline"]
        assert httpx.post(f"{create}/t2", headers=http, json={"input": {"title": "Two"}}).is_success

        relay.restore()  # live again by itself, with what changed meanwhile
        page.wait_for_function("todo.live && todo.items.length === 2")
        assert page.evaluate("todo.items.map((i) => i.instance)") == ["t1", "t2"]
    finally:
        relay.stop()


def test_a_token_for_another_subject_deletes_what_was_kept_for_the_first(
        site: Page, api: ServerProcess, relay: TcpProxy) -> None:
    records_of = """(sub) => new Promise((resolve) => {
        const opening = indexedDB.open("statesync");
        opening.onsuccess = () => {
            const keys = opening.result.transaction("records").objectStore("records").getAllKeys();
            keys.onsuccess = () => {
                opening.result.close();
                const user = JSON.stringify([new URL(window.base).origin, sub]);
                resolve(keys.result.filter((key) => key.startsWith(user)).length);
            };
        };
    })"""
    site.evaluate("""async ({ url, token }) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.base = url;
        window.current = token;
        window.client = await connect({ url, getToken: () => window.current, timeout: 5 });
        window.todo = await client.instance("todo", "alice", { create: {} });
        await client.ready;
    }""", {"url": relay.url, "token": token("alice")})
    site.wait_for_function(f"({records_of})('alice').then((n) => n > 0)")  # its last state

    site.evaluate("(token) => { window.current = token; }", token("bob"))
    relay.cut()  # the client reconnects, asking getToken(): now bob's
    site.evaluate(UNTIL_STATUS, "(s) => s.subject === 'bob'")
    site.wait_for_function(f"({records_of})('alice').then((n) => n === 0)")
