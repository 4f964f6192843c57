"""Cross-origin use: CORS for the HTTP API (`--cors-origin`), the WebSocket handshake's
`Origin` checked against the server's own origin, loopback origins and that list (cross-site
WebSocket hijacking is refused with 403), and the `Host` of every request (DNS rebinding)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from e2e_harness import EXAMPLE_APP, PAGES_HOST, SECRET, token
from playwright.sync_api import Page

from statesync_server.web.origins import OriginPolicy, normalize_origin
from statesync_server.testing import ServerProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def cors_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """The example app allowing pages of `http://pages.test:<its port>` (another origin than
    `http://127.0.0.1:<port>`, under a name that is no loopback name; the test browser
    resolves it to 127.0.0.1), and so served under that name too."""
    port = free_port()
    process = ServerProcess(EXAMPLE_APP, tmp_path / "cors.db", "--cors-origin",
                            f"http://{PAGES_HOST}:{port}", secret=SECRET)
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
    assert handshake(cors_server.ws_url, f"http://{PAGES_HOST}:{cors_server.port}") == 101  # allowed
    assert handshake(cors_server.ws_url, "https://evil.example") == 403
    assert handshake(cors_server.ws_url, "null") == 403  # sandboxed frames, file: pages


def test_only_allowed_origins_get_cors_headers(cors_server: ServerProcess) -> None:
    allowed = f"http://{PAGES_HOST}:{cors_server.port}"
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
    page.goto(f"http://{PAGES_HOST}:{cors_server.port}/statesync/manifest.json")
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


async def _raw_handshake(port: int, host: str, origin: str | None) -> int:
    """The status of a WebSocket handshake to 127.0.0.1:`port` sent with these `Host` and
    `Origin` headers, as a browser on a page of `origin` that resolved `host` sends it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write((f"GET /v1/ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "Sec-WebSocket-Version: 13\r\n"
                      + (f"Origin: {origin}\r\n" if origin else "") + "\r\n").encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
        return int(status.split()[1])
    finally:
        writer.close()


def raw_handshake(port: int, host: str, origin: str | None) -> int:
    return asyncio.run(_raw_handshake(port, host, origin))


def test_a_rebound_name_reaches_neither_the_socket_nor_the_api(server: ServerProcess) -> None:
    """DNS rebinding (issue 22): a page of `http://rebind.example:<port>` whose name the
    attacker pointed at 127.0.0.1 sends `Host` and `Origin` alike; neither its WebSocket nor
    its HTTP requests (same-origin for the browser, no CORS asked) are served."""
    rebound = f"rebind.example:{server.port}"
    assert raw_handshake(server.port, rebound, f"http://{rebound}") == 403
    # what a browser sends on same-origin requests: fetch metadata; Origin but on GET/HEAD
    same_origin = {"host": rebound, "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors"}
    for path in ("/v1/health", "/statesync/manifest.json"):
        response = httpx.get(f"{server.url}{path}", headers=same_origin)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    response = httpx.post(f"{server.url}/v1/session",
                          headers={**same_origin, "origin": f"http://{rebound}"})
    assert response.status_code == 403, response.text
    response = httpx.post(f"{server.url}/v1/session",  # an older browser: Origin only
                          headers={"host": rebound, "origin": f"http://{rebound}"})
    assert response.status_code == 403, response.text


def test_other_clients_reach_the_server_under_any_name(server: ServerProcess) -> None:
    """A service calling `http://statesync.internal:<port>` (no Origin, no fetch metadata: no
    browser, nothing to rebind) is served."""
    name = f"statesync.internal:{server.port}"
    assert raw_handshake(server.port, name, None) == 101
    assert httpx.get(f"{server.url}/v1/health", headers={"host": name}).status_code == 200


def test_loopback_origins_reach_a_loopback_server(server: ServerProcess) -> None:
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        for origin in (None, f"http://127.0.0.1:{port}", f"http://localhost:{port}",
                       "http://localhost:5173", "http://[::1]:8080", "https://127.0.0.2"):
            assert raw_handshake(port, host, origin) == 101, (host, origin)
        assert raw_handshake(port, host, "http://rebind.example:5173") == 403
        assert raw_handshake(port, host, "null") == 403
        assert httpx.get(f"{server.url}/v1/health", headers={"host": host}).status_code == 200
    preflight = {"access-control-request-method": "POST",
                 "access-control-request-headers": "authorization, content-type"}
    with httpx.Client(base_url=server.url) as http:  # and HTTP with CORS, as for a socket
        for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "http://[::1]:8080"):
            ok = http.options("/v1/session", headers={"origin": origin, **preflight})
            assert ok.headers.get("access-control-allow-origin") == origin, origin
        for origin in ("http://rebind.example:5173", "http://localhost.example", "null"):
            refused = http.options("/v1/session", headers={"origin": origin, **preflight})
            assert "access-control-allow-origin" not in refused.headers, origin


def test_a_configured_origin_names_the_server(cors_server: ServerProcess) -> None:
    """`--cors-origin http://pages.test:<port>`: pages of that origin reach the server under
    that name too (a proxy passing the name on), no other name does."""
    port, name = cors_server.port, f"{PAGES_HOST}:{cors_server.port}"
    assert raw_handshake(port, name, f"http://{name}") == 101
    assert httpx.get(f"{cors_server.url}/v1/health", headers={"host": name}).status_code == 200
    assert raw_handshake(port, f"rebind.example:{port}", f"http://rebind.example:{port}") == 403


@pytest.mark.parametrize(("url", "origin", "host", "allowed"), [
    # a loopback server: no Origin, loopback origins (any port), nothing else
    ("http://127.0.0.1:8000", None, "127.0.0.1:8000", True),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:8000", "http://LOCALHOST:3000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:8000", "http://[::1]:8000", "[::1]:8000", True),
    ("http://127.0.0.1:8000", "http://a.example:8000", "a.example:8000", False),  # rebinding
    ("http://127.0.0.1:8000", "https://c.example", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8000", "null", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8000", "https://b.example", "127.0.0.1:8000", True),  # configured
    # a server on every interface: loopback, its address as the page's, configured origins
    ("http://0.0.0.0:8000", "http://localhost:8000", "localhost:8000", True),
    ("http://0.0.0.0:8000", "http://10.1.2.3:8000", "10.1.2.3:8000", True),
    ("http://0.0.0.0:8000", "http://10.1.2.3:8000", "10.9.9.9:8000", False),
    ("http://0.0.0.0:8000", "http://a.example:8000", "a.example:8000", False),
    ("http://0.0.0.0:8000", "https://b.example", "b.example", True),
    # a server on one address: not loopback origins
    ("http://10.1.2.3:8000", "http://10.1.2.3:8000", "10.1.2.3:8000", True),
    ("http://10.1.2.3:8000", "http://localhost:3000", "10.1.2.3:8000", False),
])
def test_origin_rule(url: str, origin: str | None, host: str, allowed: bool) -> None:
    policy = OriginPolicy(url, ["https://b.example/"])
    assert policy.origin_allowed(origin, host) is allowed
    assert OriginPolicy(url, ["*"]).origin_allowed(origin, host) is True


@pytest.mark.parametrize(("url", "host", "allowed"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True), ("http://127.0.0.1:8000", "[::1]:1", True),
    ("http://127.0.0.1:8000", "localhost", True), ("http://127.0.0.1:8000", None, True),
    ("http://127.0.0.1:8000", "b.example", True), ("http://127.0.0.1:8000", "B.example:8443", True),
    ("http://127.0.0.1:8000", "a.example:8000", False), ("http://0.0.0.0:8000", "a.example", False),
    ("http://0.0.0.0:8000", "10.1.2.3:8000", True), ("http://127.0.0.1:8000", "a.b:c:d", False),
    ("http://127.0.0.1:8000", "a.example@127.0.0.1", False),
])
def test_host_rule(url: str, host: str | None, allowed: bool) -> None:
    """A `Host` that is an address (nothing to rebind), `localhost`, or a configured origin's."""
    assert OriginPolicy(url, ["https://b.example:8443"]).host_allowed(host) is allowed
    assert OriginPolicy(url, ["*"]).host_allowed(host) is True


def test_origins_are_checked_when_given() -> None:
    assert normalize_origin("https://App.Example:8443/") == "https://app.example:8443"
    for bad in ("app.example", "ftp://x", "https://x/path"):
        with pytest.raises(ValueError):
            normalize_origin(bad)


def test_a_refused_origin_is_named_on_both_sides(page: Page, server: ServerProcess,
                                                 cors_server: ServerProcess) -> None:
    """A forgotten `--cors-origin` is not a down server: the page's error says CORS and the
    option to set, the server's log names the origin once (however many requests). The page
    (with the SDK) comes from `cors_server` under a name `server` was not told of."""
    page_origin = f"http://{PAGES_HOST}:{cors_server.port}"  # another host: another origin
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
