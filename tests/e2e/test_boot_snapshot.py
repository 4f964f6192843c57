"""Warm boots from a Pyodide memory snapshot: the first boot saves the heap (statesync, the
bridge and the app's machine module imported) in the Cache API, a reload restores it instead of
starting CPython; a changed machine module, or a snapshot that cannot be restored, falls back
to a normal boot. No timing is asserted: the worker says which path it took. The pages use a
dedicated worker, which ends with its page: a SharedWorker outlives it (statesync.js asks for
an extended lifetime), so a reload finds its runtime booted and restores nothing
(test_worker_lifetime.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from e2e_harness import add_todo_script, token
from playwright.sync_api import Page

from statesync_server.testing import ServerProcess

LIVE = add_todo_script(close_client=True)

# The snapshot entries once there are `count`, none of them `stale` (the worker stores in the
# background): [{url, failed, bytes}].
STORED = """async ([count, stale]) => {
    const cache = await caches.open("statesync-snapshots");
    for (let i = 0; i < 600; i++) {
        // The worker may delete an old entry between keys() and match(): look again then.
        const entries = await Promise.all((await cache.keys()).map(async (request) => {
            const response = await cache.match(request);
            return response && { url: request.url,
                                 failed: response.headers.has("x-statesync-snapshot-failed"),
                                 bytes: (await response.arrayBuffer()).byteLength };
        }));
        if (entries.every(Boolean) && entries.length === count
            && !entries.some((e) => e.url === stale)) return entries;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error("no snapshot stored");
}"""


@pytest.fixture
def own_server(app_dir: Path, serve: Callable[..., ServerProcess],
               monkeypatch: pytest.MonkeyPatch) -> ServerProcess:
    """The app copy's server, its machines in Pyodide (memory snapshots are Pyodide's)."""
    monkeypatch.setenv("STATESYNC_BROWSER_RUNTIME", "pyodide")
    return serve(app_dir / "app.py")


def boot(page: Page, text: str) -> dict[str, Any]:
    live = page.evaluate(LIVE, [token("alice"), text])
    assert live["info"]["boots"] == 1 and text in live["items"]
    return live["info"]


def test_reload_restores_the_snapshot_and_a_changed_module_invalidates_it(
        page: Page, app_dir: Path, own_server: ServerProcess) -> None:
    page.set_default_timeout(120_000)
    page.add_init_script("delete window.SharedWorker")
    page.goto(f"{own_server.url}/statesync/manifest.json")
    first = boot(page, "cold")
    assert first["worker"] == "dedicated" and first["timings"]["snapshot"] == "saved"
    assert first["timings"]["warmUp"] == 0  # the imports warmed the interpreter up
    [saved] = page.evaluate(STORED, [1, None])
    assert not saved["failed"] and saved["bytes"] > 10_000_000  # the interpreter's heap

    page.reload()  # the worker ended with its page: a new one restores the heap
    restored = boot(page, "restored")["timings"]
    assert restored["snapshot"] == "restored" and restored["warmUp"] > 0  # bridge.warm_up_stepper
    assert page.evaluate("performance.getEntriesByName('statesync:warm-up').length") == 1

    # A changed machine module (same server, same origin): a new key, the old entry deleted.
    machines = app_dir / "machines.py"
    machines.write_text(machines.read_text() + "\nCHANGED = True\n")
    own_server.restart()
    page.reload()
    assert boot(page, "changed")["timings"]["snapshot"] == "saved"
    [changed] = page.evaluate(STORED, [1, saved["url"]])
    assert not changed["failed"]
    page.reload()
    assert boot(page, "changed again")["timings"]["snapshot"] == "restored"


def test_a_snapshot_that_fails_to_restore_is_discarded(page: Page,
                                                       own_server: ServerProcess) -> None:
    page.set_default_timeout(120_000)
    page.add_init_script("delete window.SharedWorker")
    page.goto(f"{own_server.url}/statesync/manifest.json")
    assert boot(page, "cold")["timings"]["snapshot"] == "saved"
    [saved] = page.evaluate(STORED, [1, None])
    page.evaluate("""async (url) => {  // same key, garbage heap
        const cache = await caches.open("statesync-snapshots");
        await cache.put(url, new Response(new Uint8Array(1 << 20).fill(7)));
    }""", saved["url"])
    page.reload()
    assert boot(page, "after a bad snapshot")["timings"]["snapshot"] == "discarded"
    assert page.evaluate("""async (url) => {  // the marker replaces the bad heap
        const cache = await caches.open("statesync-snapshots");
        for (let i = 0; i < 600; i++) {
            if ((await cache.match(url))?.headers.has("x-statesync-snapshot-failed")) return true;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return false;
    }""", saved["url"])
    page.reload()  # not made again for these files: a normal boot
    assert boot(page, "without a snapshot")["timings"]["snapshot"] == "none"

