"""`instance.on(type, listener)` in the browser SDK: events the machine emits reach the page
through the worker (before it takes over: on the page's own socket), as the server delivered
them to this reader (tests/e2e/apps/emitting)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from e2e_harness import REPO, HeldRuntime, token
from playwright.sync_api import Page, WebSocket

from statesync_server.testing import ServerProcess

EMIT_APP = REPO / "tests" / "e2e" / "apps" / "emitting" / "app.py"


@pytest.fixture
def shop(serve: Callable[..., ServerProcess]) -> ServerProcess:
    return serve(EMIT_APP)


def test_on_hears_emitted_events_and_off_stops(page: Page, shop: ServerProcess) -> None:
    page.set_default_timeout(60_000)  # Pyodide's cold start, on a busy CI box
    page.goto(f"{shop.url}/statesync/manifest.json")
    result = page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        const checkout = await client.instance("checkout", "alice", { create: {} });
        await client.ready;  // the worker's Python client took over
        const failed = [], all = [];
        checkout.on("paymentFailed", () => { throw new Error("a broken listener"); });
        const off = checkout.on("paymentFailed", (event) => failed.push(event));
        checkout.on("*", (event) => all.push(event));
        const until = async (condition) => {
            for (let i = 0; i < 1000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
        };
        await checkout.send({ type: "FAIL", reason: "card declined" });
        await until(() => failed.length === 1);
        off();
        await checkout.send({ type: "FAIL", reason: "expired" });
        await checkout.send("PING");
        await until(() => all.length === 3);
        const result = { failed, all, failures: checkout.state.context.failures };
        await client.close();
        return result;
    }""", token("alice"))
    assert result["failed"] == [{"type": "paymentFailed", "reason": "card declined"}]
    assert result["all"] == [{"type": "paymentFailed", "reason": "card declined"},
                             {"type": "paymentFailed", "reason": "expired"}, {"type": "pong"}]
    assert result["failures"] == 2


def test_events_emitted_before_the_runtime_are_heard_on_the_pages_own_socket(
        page: Page, shop: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    held = HeldRuntime(page)  # the worker's client cannot take over meanwhile
    subscribed: list[str] = []
    def watch(socket: WebSocket) -> None:
        socket.on("framereceived",
                  lambda frame: subscribed.append(frame) if '"subscribed"' in frame else None)

    page.on("websocket", watch)
    page.goto(f"{shop.url}/statesync/manifest.json")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ token });
        const checkout = await client.instance("checkout", "alice", { create: {} });
        window.t = { client, checkout, all: [] };
        checkout.on("*", (event) => window.t.all.push(event));
    }""", token("alice"))
    for _ in range(200):  # bounded: the page's socket subscribes the handle
        if subscribed:
            break
        page.wait_for_timeout(50)
    assert subscribed and held.asked(page)
    heard = page.evaluate("""async () => {
        const { client, checkout, all } = window.t;
        await checkout.send({ type: "FAIL", reason: "card declined" });  // over HTTP
        for (let i = 0; i < 1000 && !all.length; i++) await new Promise((r) => setTimeout(r, 10));
        const status = client.status.status;
        await client.close();
        return { all, status };
    }""")
    assert heard == {"all": [{"type": "paymentFailed", "reason": "card declined"}],
                     "status": "connecting"}
