"""Which runtime a page gets: the example page in the light runtime (MicroPython, the default)
goes live and shows edits at once without loading Pyodide, also on a server without Pyodide
(no `npm ci`); a machine that fails in MicroPython (the server's trial of it under Node) runs
in Pyodide, beside a page whose machines run in MicroPython in the same worker; a page whose
machines need Pyodide on a server without it works server-direct and says what is missing,
instead of waiting at "connecting"."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_harness import REPO, DelayProxy, token
from playwright.sync_api import Page, expect
from test_sdk_boot import run
from test_settings_page import open_page, saved

from statesync_server.testing import ServerProcess

MIXED_APP = REPO / "tests" / "e2e" / "apps" / "mixed" / "app.py"
SETTINGS_ONLY = {"statesync.settings": "statesync.settings:settings_machine"}


@pytest.fixture
def no_pyodide(serve: Callable[..., ServerProcess], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """The example app on a server that finds no Pyodide runtime (as after `pip install`
    alone)."""
    monkeypatch.setenv("STATESYNC_PYODIDE_DIR", str(tmp_path / "no-pyodide"))
    return serve()


@pytest.fixture
def no_runtime(serve: Callable[..., ServerProcess], tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """The example app on a server without Pyodide, told to run every machine there."""
    monkeypatch.setenv("STATESYNC_PYODIDE_DIR", str(tmp_path / "no-pyodide"))
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "pyodide")
    return serve()


@pytest.fixture
def mixed(serve: Callable[..., ServerProcess]) -> ServerProcess:
    """A machine that fails in MicroPython (`ledger`) beside the light settings machine."""
    return serve(MIXED_APP)


def test_the_example_page_in_micropython_goes_live_and_shows_an_add_at_once(
        page: Page, server: ServerProcess) -> None:
    # A dedicated worker (Playwright does not report a shared worker's requests)
    page.add_init_script("delete window.SharedWorker")
    requested: list[str] = []
    page.context.on("request", lambda request: requested.append(request.url))
    relay = DelayProxy(server.port).start()
    try:
        open_page(page, relay.url)
        info = page.evaluate("""async () => {
            const { loadRuntime } = await import("/statesync/sdk/statesync.js");
            return await loadRuntime();
        }""")
        assert info["runtime"] == "micropython"
        assert set(info["machines"].values()) == {"micropython"}
        assert any(url.endswith("micropython.wasm") for url in requested)  # requests are seen
        assert not [url for url in requested if "pyodide" in url.lower()]

        relay.delay = 1.0  # every byte, both ways: the server's confirmation takes >= 2 s
        page.fill("#new-item", "Optimistic item")
        page.press("#new-item", "Enter")
        expect(page.locator("#items li")).to_have_text(["Optimistic item"], timeout=500)
        expect(page.locator("#status")).to_contain_text("1 change(s) not yet saved", timeout=500)
        saved(page, timeout=15_000)
        expect(page.locator("#items li")).to_have_text(["Optimistic item"])
    finally:
        relay.stop()


def test_without_pyodide_the_example_page_goes_live_in_micropython(
        page: Page, no_pyodide: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    page.goto(no_pyodide.url)
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "live")
    info = page.evaluate("""async () => {
        const { loadRuntime } = await import("/statesync/sdk/statesync.js");
        return await loadRuntime();
    }""")
    assert info["runtime"] == "micropython"
    assert set(info["machines"].values()) == {"micropython"}
    page.fill("#new-item", "Buy milk")
    page.press("#new-item", "Enter")
    saved(page)
    page.reload()
    expect(page.locator("#items li", has_text="Buy milk")).to_have_count(1)


def test_a_machine_that_fails_in_micropython_runs_in_pyodide_beside_a_light_page(
        page: Page, mixed: ServerProcess) -> None:
    page.set_default_timeout(120_000)
    page.goto(f"{mixed.url}/statesync/manifest.json")
    manifest = page.evaluate("async () => (await fetch('/statesync/manifest.json')).json()")
    assert manifest["runtimes"] == {"ledger": "pyodide", "statesync.settings": "micropython"}
    [why] = manifest["reasons"]["ledger"]  # found by the trial: the static check passes it
    assert why.startswith("its initial state fails in MicroPython: ledger_machines.py, line ")
    assert "TypeError" in why
    assert manifest["checks"] == {
        "statesync.settings": "imported and started in MicroPython under Node"}

    # Every machine of the server: Pyodide runs them all, the ledger optimistic there.
    heavy = run(page, """
        const client = await within(connect({ token: arg }));
        const ledger = await within(client.instance("ledger", "alice", { create: {} }));
        await within(client.ready, 110000);
        await within(ledger.send({ type: "ADD", text: "rent" }));
        return { info: await loadRuntime(), state: ledger.state.context };
    """, token("alice"))
    assert heavy["info"]["runtime"] == "pyodide"
    assert heavy["info"]["machines"] == {"ledger": "pyodide", "statesync.settings": "pyodide"}
    assert heavy["state"] == {"columns": ["memo", "amount", "date"], "entries": ["rent"]}

    # A second tab of the same origin whose page runs the settings machine only: MicroPython,
    # booted beside Pyodide in the same shared worker.
    light = page.context.new_page()
    light.set_default_timeout(120_000)
    light.goto(f"{mixed.url}/statesync/manifest.json")
    second = run(light, """
        const client = await within(connect({ token: arg.token, machines: arg.machines }));
        const prefs = await within(client.settings("ui", { theme: "light" }));
        await within(client.ready, 110000);
        await within(prefs.set("theme", "dark"));
        return { info: await loadRuntime(undefined, { machines: arg.machines }),
                 values: prefs.values };
    """, {"token": token("alice"), "machines": SETTINGS_ONLY})
    assert second["info"]["runtime"] == "micropython"
    assert second["info"]["machines"] == {"statesync.settings": "micropython"}
    assert second["info"]["worker"] == "shared" and second["info"]["boots"] == 2
    assert second["values"] == {"theme": "dark"}


def test_a_page_with_no_runtime_works_and_says_what_is_missing(
        page: Page, no_runtime: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    page.goto(no_runtime.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")  # React is vendored
    status = page.locator("#status")
    expect(status).to_have_attribute("data-status", "direct")
    expect(status).to_contain_text("no Pyodide runtime")
    page.fill("#new-item", "Buy milk")
    page.press("#new-item", "Enter")
    expect(page.locator("#items li", has_text="Buy milk")).to_have_count(1)  # confirmed
    page.select_option("#theme", "dark")
    expect(page.locator("body")).to_have_attribute("data-theme", "dark")
    expect(status).not_to_contain_text("not yet saved")
    page.reload()
    expect(page.locator("#theme")).to_have_value("dark")  # saved by the server
    expect(page.locator("#items li", has_text="Buy milk")).to_have_count(1)


def test_the_runtime_info_says_where_each_machine_runs(page: Page,
                                                       no_runtime: ServerProcess) -> None:
    page.goto(f"{no_runtime.url}/statesync/manifest.json")
    answer = run(page, """
        const client = await within(connect({ token: arg }));
        const ready = await within(code(client.ready), 30000);
        return { ready, status: client.status };
    """, token("alice"))
    assert answer["ready"] == "not-found"
    assert answer["status"]["status"] == "direct"
    assert "no Pyodide runtime" in answer["status"]["error"]["message"]


def test_importing_the_sdk_boots_the_light_runtime_before_a_page_connects(
        page: Page, server: ServerProcess) -> None:
    # A dedicated worker (Playwright does not report a shared worker's requests)
    page.add_init_script("delete window.SharedWorker")
    page.goto(f"{server.url}/statesync/manifest.json")
    with page.expect_request(lambda request: "/statesync/light-" in request.url,
                             timeout=60_000):
        page.evaluate("import('/statesync/sdk/statesync.js').then(() => {})")  # no connect()
    info = page.evaluate("""async () => {
        const { loadRuntime } = await import("/statesync/sdk/statesync.js");
        return await loadRuntime();
    }""")
    assert info["runtime"] == "micropython" and info["boots"] == 1  # the same boot
