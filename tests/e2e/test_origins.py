"""Cross-origin use: CORS for the HTTP API (`--cors-origin`), and the WebSocket handshake's
`Origin` checked against the server's own origin and that list (cross-site WebSocket
hijacking is refused with 403)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from e2e_harness import EXAMPLE_APP, SECRET, token
from playwright.sync_api import Page
from starlette.datastructures import Headers

from statesync_server.origins import normalize_origin, websocket_origin_allowed
from statesync_server.testing import ServerProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cors_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The example app allowing pages of `http://localhost:<its port>` (another origin than
    `http://127.0.0.1:<port>`: another host)."""
    port = free_port()
    process = ServerProcess(EXAMPLE_APP, tmp_path / "cors.db", "--cors-origin",
                            f"http://localhost:{port}", secret=SECRET)
    process.port = port
    yield process.start()
    process.stop()
    print(process.log())


def handshake(url: str, origin: str | None) -> int:
    """The HTTP status of a WebSocket handshake to `url` sent with `origin` (101: opened)."""
    async def attempt() -> int:
        try:
            async with websockets.connect(url, origin=origin, open_timeout=10):
                return 101
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    return asyncio.run(attempt())


def test_websocket_handshakes_from_other_origins_are_refused(cors_server: ServerProcess) -> None:
    own = f"http://127.0.0.1:{cors_server.port}"
    assert handshake(cors_server.ws_url, None) == 101  # not a browser
    assert handshake(cors_server.ws_url, own) == 101
    assert handshake(cors_server.ws_url, f"http://localhost:{cors_server.port}") == 101  # allowed
    assert handshake(cors_server.ws_url, "https://evil.example") == 403
    assert handshake(cors_server.ws_url, "null") == 403  # sandboxed frames, file: pages


def test_only_allowed_origins_get_cors_headers(cors_server: ServerProcess) -> None:
    allowed = f"http://localhost:{cors_server.port}"
    preflight = {"access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    with httpx.Client(base_url=cors_server.url) as http:
        ok = http.options("/v1/session", headers={"origin": allowed, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        refused = http.options("/v1/session", headers={"origin": "https://evil.example",
                                                       **preflight})
        assert "access-control-allow-origin" not in refused.headers
        manifest = http.get("/statesync/manifest.json", headers={"origin": allowed})
        assert manifest.headers["access-control-allow-origin"] == allowed


def test_the_default_server_allows_no_other_origin(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/statesync/manifest.json",
                         headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    assert handshake(server.ws_url, "https://evil.example") == 403
    assert handshake(server.ws_url, server.url) == 101


def test_a_page_of_an_allowed_origin_uses_the_server(page: Page,
                                                     cors_server: ServerProcess) -> None:
    page.set_default_timeout(60_000)
    page.goto(f"http://localhost:{cors_server.port}/statesync/manifest.json")
    status = page.evaluate("""async ({ url, token }) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const client = await connect({ url, token });   // HTTP with CORS, then the worker
        const todo = await client.instance("todo", "alice", { create: {} });
        await client.ready;                              // its WebSocket's Origin is allowed
        await todo.send({ type: "ADD", text: "milk" });  // acked; saved once its update is in
        const tick = () => new Promise((resolve) => setTimeout(resolve, 10));
        for (let i = 0; i < 500 && client.status.unsaved; i++) await tick();
        return client.status;
    }""", {"url": cors_server.url, "token": token("alice")})
    assert status == {"status": "live", "unsaved": 0, "subject": "alice", "phase": "live"}


@pytest.mark.parametrize(("origin", "host", "allowed"), [
    (None, "a:1", True), ("http://a:1", "a:1", True), ("http://A:1", "a:1", True),
    ("http://a:2", "a:1", False), ("https://b.example", "a:1", True),
    ("https://c.example", "a:1", False),
])
def test_origin_rule(origin: str | None, host: str, allowed: bool) -> None:
    headers = Headers({"host": host, **({"origin": origin} if origin else {})})
    assert websocket_origin_allowed(headers, ["https://b.example/"]) is allowed
    assert websocket_origin_allowed(headers, ["*"]) is True


def test_origins_are_checked_when_given() -> None:
    assert normalize_origin("https://App.Example:8443/") == "https://app.example:8443"
    for bad in ("app.example", "ftp://x", "https://x/path"):
        with pytest.raises(ValueError):
            normalize_origin(bad)


def test_a_refused_origin_is_named_on_both_sides(page: Page, server: ServerProcess) -> None:
    """A forgotten `--cors-origin` is not a down server: the page's error says CORS and the
    option to set, the server's log names the origin once (however many requests)."""
    page_origin = f"http://localhost:{server.port}"  # another host: another origin
    page.set_default_timeout(60_000)
    page.goto(f"{page_origin}/statesync/manifest.json")
    errors = page.evaluate("""async ({ url, token }) => {
        const { connect } = await import("/statesync/sdk/statesync.js");
        const errors = [];
        for (let i = 0; i < 2; i++) {
            try { await connect({ url, token, timeout: 5 }); errors.push("connected"); }
            catch (error) { errors.push({ code: error.code, message: error.message }); }
        }
        return errors;
    }""", {"url": server.url, "token": token("alice")})
    assert errors[0] == errors[1]
    assert errors[0]["code"] == "cors"
    assert f"--cors-origin {page_origin}" in errors[0]["message"]
    assert server.url in errors[0]["message"]
    hint = f"--cors-origin {page_origin}"
    deadline = time.monotonic() + 10
    while hint not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.log().count(hint) == 1
