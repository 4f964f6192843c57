"""A fresh Vite + React + TypeScript app (tests/e2e/vite_app/, its lockfile installed by `npm
ci`) with the packed `@statesync/web` installed into a copy: `statesync types` writes the
machines' types, `tsc` checks the app against them, `vite build` bundles it, and the built
page, served from another origin than the statesync server's, runs in Chromium: live updates
from another client, optimistic sends, a rollback when the server refuses an event, and a
live query."""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_harness import REPO
from playwright.sync_api import Page, expect

from statesync_server.testing import ServerProcess

FIXTURE = REPO / "tests" / "e2e" / "vite_app"
LIST = "todo.list"

pytestmark = pytest.mark.skipif(
    shutil.which("npm") is None or not (FIXTURE / "node_modules" / ".bin" / "vite").exists(),
    reason="needs npm and tests/e2e/vite_app/node_modules (cd tests/e2e/vite_app && npm ci)")


def run(*command: str, cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture app with the packed SDK installed, its types generated, checked
    and built (`dist/`)."""
    packs = tmp_path_factory.mktemp("npm-pack")
    [packed] = json.loads(run("npm", "pack", "--json", "--pack-destination", str(packs),
                              "--loglevel=error", cwd=REPO / "sdk_web"))
    app = tmp_path_factory.mktemp("vite") / "app"
    shutil.copytree(FIXTURE, app, symlinks=True, ignore=lambda folder, names: (
        {"dist", "machines.d.ts"} & set(names) if Path(folder) == FIXTURE else set()))
    # every dependency is already in node_modules (npm ci): nothing is fetched
    run("npm", "install", "--no-save", "--offline", "--no-audit", "--no-fund", "--loglevel=error",
        str(packs / packed["filename"]), cwd=app)
    run(sys.executable, "-m", "statesync_server", "types", "app.py", "-o", "machines.d.ts",
        cwd=app)
    assert '"todo.list": {' in (app / "machines.d.ts").read_text()
    run(str(app / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", ".", cwd=app)
    run(str(app / "node_modules" / ".bin" / "vite"), "build", "--logLevel", "error", cwd=app)
    return app


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_origin(built: Path) -> Iterator[str]:
    """The built page on its own port of 127.0.0.1: another origin than the server's."""
    handler = functools.partial(_Quiet, directory=str(built / "dist"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.shutdown()


@pytest.fixture
def server(built: Path, static_origin: str) -> Iterator[ServerProcess]:
    process = ServerProcess(built / "app.py", built / "vite.db", "--cors-origin",
                            static_origin).start()
    yield process
    process.stop()
    print(process.log())


def test_the_built_app_syncs_from_another_origin(page: Page, server: ServerProcess,
                                                 static_origin: str) -> None:
    assert static_origin != server.url
    page.set_default_timeout(90_000)  # Pyodide's cold start in the worker, on a busy machine
    expect.set_options(timeout=90_000)
    name = f"alice-{uuid.uuid4().hex[:8]}"
    query = httpx.QueryParams(server=server.url, list=name, token=server.mint("alice"))
    page.goto(f"{static_origin}/?{query}")
    expect(page.locator("main")).to_have_attribute("data-status", "live")
    items = page.get_by_test_id("items").locator("li")
    lists = page.get_by_test_id("lists").locator("li")
    pending = page.get_by_test_id("pending")

    # live: another client's event shows up
    response = httpx.post(f"{server.url}/v1/instances/{LIST}/{name}/events", timeout=30,
                          headers={"Authorization": f"Bearer {server.mint('bob')}"},
                          json={"event": {"type": "ADD", "text": "from bob"},
                                "event_id": uuid.uuid4().hex})
    assert response.status_code == 200, response.text
    expect(items).to_have_text(["from bob"])
    bob = {"Authorization": f"Bearer {server.mint('bob')}"}

    # optimistic: shown with the event pending, then confirmed and saved
    page.get_by_label("text").fill("milk")
    page.get_by_role("button", name="Add").click()
    expect(items).to_have_text(["from bob", "milk"])
    expect(pending).to_have_text("0")
    assert {"texts": ["from bob", "milk"], "pending": 1} in page.evaluate("window.shown")
    saved = httpx.get(f"{server.url}/v1/instances/{LIST}/{name}", timeout=30,
                      headers=bob).json()
    assert [item["text"] for item in saved["context"]["items"]] == ["from bob", "milk"]

    # rollback: the server refuses an item longer than 40 characters
    long = "x" * 41
    page.get_by_label("text").fill(long)
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_test_id("error")).to_have_text("invalid-event")
    expect(items).to_have_text(["from bob", "milk"])
    expect(pending).to_have_text("0")
    shown = page.evaluate("window.shown")
    assert {"texts": ["from bob", "milk", long], "pending": 1} in shown
    assert shown[-1] == {"texts": ["from bob", "milk"], "pending": 0}

    # live query: alice's lists, one made by another client enters (kept in index order)
    expect(lists).to_have_text([f"{name}: 2"])
    created = httpx.post(f"{server.url}/v1/instances/{LIST}/{name}-2", timeout=30, headers=bob,
                         json={"input": {"owner": "alice"}})
    assert created.status_code == 201, created.text
    expect(lists).to_have_text([f"{name}: 2", f"{name}-2: 0"])
