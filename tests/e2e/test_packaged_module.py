"""A browser machine module may be a package: its helpers reach Pyodide with it (served as a
zip and unpacked with `pyodide.unpackArchive`, like the statesync core)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import httpx
import pytest
from e2e_harness import REPO, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

APP = REPO / "tests" / "e2e" / "apps" / "packaged" / "app.py"
LIVE = 60_000  # ms: Pyodide's cold start on a busy CI box


@pytest.fixture
def server(serve: Callable[..., ServerProcess]) -> ServerProcess:
    return serve(APP)


def test_a_package_is_served_as_one_immutable_zip(server: ServerProcess) -> None:
    manifest = httpx.get(f"{server.url}/statesync/manifest.json").json()
    [module] = manifest["modules"]
    assert module["name"] == "counters" and module["url"].endswith(".zip")
    assert manifest["machines"] == {"counter": "counters:counter",
                                    "statesync.settings": "statesync.settings:settings_machine"}
    response = httpx.get(server.url + module["url"])
    assert response.headers["content-type"] == "application/zip"
    assert "immutable" in response.headers["cache-control"]
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == ["counters/__init__.py", "counters/rules.py"]


def test_the_browser_runs_the_machine_with_its_helpers(page: Page, server: ServerProcess) -> None:
    page.set_default_timeout(LIVE)
    page.goto(f"{server.url}/statesync/manifest.json")
    page.evaluate("""async (token) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        window.client = await connect({ token });
        window.counter = await client.instance("counter", "c1", { create: {} });
        await client.ready;
    }""", token("alice"))
    # `can` answers only where the machine runs in the worker: the package imported there,
    # its guard from counters.rules included.
    page.wait_for_function("counter.can('INC') === true")
    page.evaluate("counter.send('INC')")
    page.wait_for_function("counter.state.context.count === 2 && counter.state.pending === 0")
    page.evaluate("counter.send('INC')")
    page.wait_for_function("counter.state.context.count === 4 && counter.can('INC') === false")
    page.evaluate("client.close()")
