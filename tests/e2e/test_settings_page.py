"""The example page in Chromium against a real server: a form bound to the user's settings and
a todo list, optimistic while the server is slow, rolled back when it says no, and alive across
a server restart."""

from __future__ import annotations

import json
from pathlib import Path

from e2e_harness import DelayProxy, HeldRuntime
from playwright.sync_api import Browser, BrowserContext, Page, expect

from statesync.settings import SETTINGS_MACHINE, settings_instance
from statesync_server.testing import ServerProcess, wait_for_state

# Pyodide's cold start is ~2 s on an idle machine; leave room for a busy CI box.
READY = 60_000
LIVE = 20_000  # reconnecting after a restart: backoff capped at 5 s, plus server start-up


def open_page(page: Page, url: str) -> Page:
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=READY)
    expect(page.locator("#status")).to_have_attribute("data-status", "live", timeout=LIVE)
    return page


def saved(page: Page, timeout: float = 10_000) -> None:
    """Every change of the page has been confirmed by the server."""
    expect(page.locator("#status")).to_have_text("live", timeout=timeout)


def test_form_is_bound_to_the_users_settings(page: Page, server: ServerProcess, artifacts: Path) -> None:
    open_page(page, server.url)
    expect(page.locator("#theme")).to_have_value("light")
    page.screenshot(path=artifacts / "settings_page.png", full_page=True)

    page.fill("#displayName", "Ada")
    page.select_option("#theme", "dark")
    page.locator("#fontSize").fill("20")
    page.check("#compact")
    expect(page.locator("body")).to_have_attribute("data-theme", "dark")
    expect(page.locator("#greeting")).to_have_text("Ada's")
    expect(page.locator("#fontSizeValue")).to_have_text("20px")
    saved(page)

    page.reload()  # the same anonymous session (localStorage): values come from the server
    open_page(page, server.url)
    expect(page.locator("#displayName")).to_have_value("Ada")
    expect(page.locator("#theme")).to_have_value("dark")
    expect(page.locator("#fontSize")).to_have_value("20")
    expect(page.locator("#compact")).to_be_checked()

    page.fill("#new-item", "Water the plants")
    page.press("#new-item", "Enter")
    page.fill("#new-item", "Buy milk")
    page.press("#new-item", "Enter")
    # A click, not check(): the todo machine runs in the worker, so the (controlled) checkbox
    # shows the new state one message later, not within the click's task.
    done = page.locator("#items li", has_text="Buy milk").locator("input")
    done.click()
    expect(done).to_be_checked()
    saved(page)
    page.screenshot(path=artifacts / "settings_page_dark.png", full_page=True)


def test_page_is_interactive_while_pyodide_boots(page: Page,
                                                          server: ServerProcess) -> None:
    open_page(page, server.url)
    page.select_option("#theme", "dark")
    page.fill("#new-item", "Water the plants")
    page.press("#new-item", "Enter")
    saved(page)

    held = HeldRuntime(page)  # the reload cannot boot Pyodide until released
    page.reload(wait_until="commit")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=10_000)
    expect(page.locator("#theme")).to_have_value("dark")
    expect(page.locator("#items li")).to_have_text(["Water the plants"])
    expect(page.locator("#status")).to_have_attribute("data-status", "connecting")

    page.fill("#displayName", "Ada")  # a setting: shown at once, saved over HTTP meanwhile
    expect(page.locator("#greeting")).to_have_text("Ada's")
    page.fill("#new-item", "Sent")  # a todo event: shown once the server confirmed it
    page.press("#new-item", "Enter")
    expect(page.locator("#items li")).to_have_text(["Water the plants", "Sent"], timeout=15_000)
    expect(page.locator("#status")).to_have_text("connecting", timeout=15_000)  # all saved
    assert held.asked(page)
    assert not page.evaluate("performance.getEntriesByName('statesync:pyodide').length")

    held.release()
    saved(page, timeout=READY)
    expect(page.locator("#items li")).to_have_text(["Water the plants", "Sent"])
    expect(page.locator("#greeting")).to_have_text("Ada's")
    session = json.loads(page.evaluate(f"localStorage.getItem('statesync.session:{server.url}')"))
    instance = settings_instance("prefs", session["sub"])
    stored = wait_for_state(server.url, SETTINGS_MACHINE, instance, token=session["token"])
    assert stored["context"]["values"] == {"theme": "dark", "displayName": "Ada"}
    assert stored["seq"] == 2  # each change applied once


def test_two_windows_see_each_others_edits_live(
    browser: Browser, context: BrowserContext, page: Page, server: ServerProcess
) -> None:
    first = open_page(page, server.url)
    second_context = browser.new_context(storage_state=context.storage_state())  # same user
    try:
        second = open_page(second_context.new_page(), server.url)

        first.select_option("#theme", "dark")
        expect(second.locator("body")).to_have_attribute("data-theme", "dark", timeout=5_000)
        expect(second.locator("#theme")).to_have_value("dark")

        second.fill("#displayName", "Grace")
        expect(first.locator("#greeting")).to_have_text("Grace's", timeout=5_000)
        expect(first.locator("#displayName")).to_have_value("Grace")

        second.fill("#new-item", "Shared item")
        second.press("#new-item", "Enter")
        expect(first.locator("#items li")).to_have_text(["Shared item"], timeout=5_000)
    finally:
        second_context.close()


def test_another_user_has_their_own_settings(browser: Browser, page: Page, server: ServerProcess) -> None:
    open_page(page, server.url).select_option("#theme", "dark")
    saved(page)
    stranger_context = browser.new_context()  # a new anonymous session
    try:
        stranger = open_page(stranger_context.new_page(), server.url)
        expect(stranger.locator("#theme")).to_have_value("light")
    finally:
        stranger_context.close()


def test_edits_show_at_once_while_the_server_is_slow(page: Page, proxy: DelayProxy) -> None:
    open_page(page, proxy.url)
    proxy.delay = 1.0  # every byte, both ways: a save takes >= 2 s

    # Within one synchronous JS task: the input event is handled and the page already shows it.
    shown = page.evaluate("""() => {
        const theme = document.getElementById("theme");
        theme.value = "dark";
        theme.dispatchEvent(new Event("input", {bubbles: true}));
        return document.body.dataset.theme;
    }""")
    assert shown == "dark"
    expect(page.locator("#status")).to_contain_text("1 change(s) not yet saved", timeout=500)

    page.fill("#new-item", "Optimistic item")
    page.press("#new-item", "Enter")
    expect(page.locator("#items li")).to_have_text(["Optimistic item"], timeout=500)
    expect(page.locator("#status")).to_contain_text("2 change(s) not yet saved", timeout=500)

    saved(page, timeout=15_000)
    expect(page.locator("body")).to_have_attribute("data-theme", "dark")
    expect(page.locator("#items li")).to_have_text(["Optimistic item"])


def test_rejected_edit_rolls_back(page: Page, proxy: DelayProxy, artifacts: Path) -> None:
    open_page(page, proxy.url)
    page.fill("#new-item", "Fine")
    page.press("#new-item", "Enter")
    saved(page)

    proxy.delay = 1.0
    too_long = "This item is far longer than the forty characters allowed"
    page.fill("#new-item", too_long)
    page.press("#new-item", "Enter")
    # The browser's copy of the machine accepts it: shown at once...
    expect(page.locator("#items li")).to_have_text(["Fine", too_long], timeout=500)
    # ...the server's validation rejects it: rolled back, with the server's error code.
    expect(page.locator("#items li")).to_have_text(["Fine"], timeout=15_000)
    expect(page.locator("#error")).to_contain_text("invalid-event")
    saved(page)
    page.screenshot(path=artifacts / "settings_page_rejected.png", full_page=True)


def test_page_survives_a_server_restart(page: Page, server: ServerProcess) -> None:
    open_page(page, server.url)
    page.fill("#displayName", "Before")
    saved(page)

    server.kill()
    expect(page.locator("#status")).not_to_have_attribute("data-status", "live", timeout=LIVE)
    page.fill("#displayName", "During")  # offline: shown at once, kept until the server is back
    expect(page.locator("#greeting")).to_have_text("During's")
    expect(page.locator("#status")).to_contain_text("1 change(s) not yet saved")

    server.start()  # same port, same database file
    saved(page, timeout=LIVE)
    session = json.loads(page.evaluate(f"localStorage.getItem('statesync.session:{server.url}')"))
    instance = settings_instance("prefs", session["sub"])
    stored = wait_for_state(server.url, SETTINGS_MACHINE, instance, token=session["token"])
    assert stored["context"]["values"]["displayName"] == "During"
    page.reload()
    open_page(page, server.url)
    expect(page.locator("#displayName")).to_have_value("During")

