"""Which runtime a page gets: the example page in the light runtime (MicroPython) goes live
and shows edits at once without loading Pyodide; a page served without Pyodide (no `npm ci`)
works server-direct and says what is missing, instead of waiting at "connecting"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import EXAMPLE_APP, SECRET, DelayProxy, token
from playwright.sync_api import Page, expect
from test_sdk_boot import run
from test_settings_page import open_page, saved

from statesync_server.testing import ServerProcess


@pytest.fixture
def no_pyodide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerProcess]:
    """The example app on a server that finds no Pyodide runtime (as after `pip install`
    alone)."""
    monkeypatch.setenv("STATESYNC_PYODIDE_DIR", str(tmp_path / "no-pyodide"))
    server = ServerProcess(EXAMPLE_APP, tmp_path / "e2e.db", secret=SECRET).start()
    yield server
    server.stop()
    print(server.log())


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


def test_the_example_page_without_pyodide_works_and_says_what_is_missing(
        page: Page, no_pyodide: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    page.goto(no_pyodide.url)
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
                                                       no_pyodide: ServerProcess) -> None:
    page.goto(f"{no_pyodide.url}/statesync/manifest.json")
    answer = run(page, """
        const client = await within(connect({ token: arg }));
        const ready = await within(code(client.ready), 30000);
        return { ready, status: client.status };
    """, token("alice"))
    assert answer["ready"] == "not-found"
    assert answer["status"]["status"] == "direct"
    assert "no Pyodide runtime" in answer["status"]["error"]["message"]


def test_importing_the_sdk_boots_the_light_runtime_before_a_page_connects(
        page: Page, light: ServerProcess) -> None:
    # A dedicated worker (Playwright does not report a shared worker's requests)
    page.add_init_script("delete window.SharedWorker")
    page.goto(f"{light.url}/statesync/manifest.json")
    with page.expect_request(lambda request: "/statesync/light-" in request.url,
                             timeout=60_000):
        page.evaluate("import('/statesync/sdk/statesync.js').then(() => {})")  # no connect()
    info = page.evaluate("""async () => {
        const { loadRuntime } = await import("/statesync/sdk/statesync.js");
        return await loadRuntime();
    }""")
    assert info["runtime"] == "micropython" and info["boots"] == 1  # the same boot
