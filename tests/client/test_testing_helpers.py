"""statesync_server.testing as users see it: the pytest plugin, waits, the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync_server.testing import ServerProcess, async_wait_for_state, wait_for_state

pytest_plugins = ["pytester"]

APP = Path(__file__).parent / "apps" / "clientapp.py"


def test_plugin_serves_the_ini_app_to_a_users_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nstatesync_app = {APP}\n")
    pytester.makepyfile(
        """
        import json, urllib.request
        from statesync_server.testing import wait_for_state

        def test_user(statesync_server, statesync_token):
            token = statesync_token("alice")
            request = urllib.request.Request(
                statesync_server.url + "/v1/instances/journal/j1", data=b"{}", method="POST",
                headers={"Authorization": "Bearer " + token, "content-type": "application/json"})
            urllib.request.urlopen(request, timeout=5).read()
            state = wait_for_state(statesync_server, "journal", "j1", token=token, value="open",
                                   where=lambda s: s["context"] == {"items": []})
            assert state["seq"] == 0
        """
    )
    result = pytester.runpytest_subprocess("-p", "statesync", "-q")
    result.assert_outcomes(passed=1)


def test_wait_for_state_gives_up_after_its_timeout(statesync_server: ServerProcess,
                                                   statesync_token) -> None:
    with pytest.raises(AssertionError, match="did not reach"):
        wait_for_state(statesync_server, "journal", "never-created", token=statesync_token("a"),
                       value="open", timeout=0.2)


async def test_async_wait_for_state_sees_a_clients_change(statesync_server: ServerProcess,
                                                          statesync_token, make_client,
                                                          name: str) -> None:
    token = statesync_token("alice")
    journal = await make_client(statesync_server.url, token=token).instance(
        "journal", name, create={})
    journal.send("CLOSE")
    state = await async_wait_for_state(statesync_server, "journal", name, token=token,
                                       value="closed", timeout=5)
    assert state["tags"] == ["read-only"]
