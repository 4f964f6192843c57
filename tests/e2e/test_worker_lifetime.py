"""The SharedWorker outlives its pages (statesync.js asks for an extended lifetime): a reload
finds the runtime booted, unless the server's code changed meanwhile (its manifest says so),
then the page gets a runtime of the new code. No timing is asserted: the worker says how many
runtimes it booted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import add_todo_script, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

LIVE = add_todo_script(close_client=False)


@pytest.fixture
def light(app_dir: Path, monkeypatch: pytest.MonkeyPatch,
          serve: Callable[..., ServerProcess]) -> ServerProcess:
    """The copied app on a server that offers the light runtime."""
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "auto")
    return serve(app_dir / "app.py")


def live(page: Page, text: str) -> dict[str, Any]:
    answer = page.evaluate(LIVE, [token("alice"), text])
    assert answer["info"]["worker"] == "shared" and text in answer["items"]
    return answer["info"]


def test_a_reload_finds_the_runtime_booted_until_the_servers_code_changes(
        page: Page, light: ServerProcess, app_dir: Path) -> None:
    page.set_default_timeout(60_000)
    page.goto(f"{light.url}/statesync/manifest.json")
    first = live(page, "first")
    assert first["runtime"] == "micropython" and first["boots"] == 1

    page.reload()
    again = live(page, "after a reload")
    assert again["boots"] == 1 and again["timings"] == first["timings"]  # that same boot

    machines = app_dir / "machines.py"
    machines.write_text(machines.read_text() + "\nCHANGED = True\n")
    light.restart()
    page.reload()
    changed = live(page, "after a change")
    assert changed["boots"] == 2 and changed["timings"] != first["timings"]
