"""The pytest plugin's browser fixtures, as an app's own test suite uses them (`pytester`): a
Chromium page at the test server and `wait_for_instance_state` in it; and the plugin loads
without Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_harness import EXAMPLE_APP

from statesync_server.testing import CHROMIUM_PATHS, find_chromium

pytest_plugins = ["pytester"]

USER_TEST = '''
import httpx
import pytest
from statesync_server.testing import wait_for_instance_state


def test_the_page_sees_the_server(statesync_page, statesync_server, statesync_token):
    assert statesync_page.url == statesync_server.url + "/"
    token = statesync_token("alice")
    http = httpx.Client(base_url=statesync_server.url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
    assert http.post("/v1/instances/todo/alice", json={"input": {}}).status_code == 201
    state = wait_for_instance_state(statesync_page, "todo", "alice", value="active", token=token)
    assert state["context"]["items"] == []

    added = http.post("/v1/instances/todo/alice/events",
                      json={"event": {"type": "ADD", "text": "milk"}, "event_id": "e1"})
    assert added.status_code == 200
    state = wait_for_instance_state(statesync_page, "todo", "alice", token=token,
                                    where="(state) => state.context.items.length === 1")
    assert state["context"]["items"][0]["text"] == "milk"

    with pytest.raises(AssertionError, match="did not reach"):
        wait_for_instance_state(statesync_page, "todo", "alice", value="missing", token=token,
                                timeout=1)
'''


@pytest.mark.parametrize("plugins", [[], ["-p", "no:playwright"]],
                         ids=["with-pytest-playwright", "alone"])
def test_an_apps_suite_drives_a_page_with_the_plugin(pytester: pytest.Pytester,
                                                     plugins: list[str]) -> None:
    pytester.makeini(f"[pytest]\nstatesync_app = {EXAMPLE_APP}\n")
    pytester.makepyfile(test_app=USER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *plugins, timeout=240)
    result.assert_outcomes(passed=1)


def test_chromium_is_found(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = tmp_path / "chromium"
    chosen.write_text("#!/bin/sh\n")
    chosen.chmod(0o755)
    monkeypatch.setenv("STATESYNC_CHROMIUM", str(chosen))
    assert find_chromium() == str(chosen)
    monkeypatch.delenv("STATESYNC_CHROMIUM")
    debian = next((path for path in CHROMIUM_PATHS if os.access(path, os.X_OK)), None)
    assert find_chromium() == debian


def test_the_plugin_loads_without_playwright() -> None:
    code = "import sys; sys.modules['playwright'] = None; import statesync_server.testing"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
