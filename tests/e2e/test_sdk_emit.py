"""`instance.on(type, listener)` in the browser SDK: events the machine emits reach the page
through the worker, as the server delivered them to this reader (tests/e2e/apps/emitting)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import REPO, SECRET, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

EMIT_APP = REPO / "tests" / "e2e" / "apps" / "emitting" / "app.py"


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(EMIT_APP, tmp_path / "emit.db", secret=SECRET).start()
    yield process
    process.stop()
    print(process.log())


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
