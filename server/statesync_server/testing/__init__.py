"""Testing helpers for statesync apps: a real server per test session, tokens, waits, and a
TCP proxy to cut the network. Also a pytest plugin (entry point `statesync`):

    # conftest.py
    @pytest.fixture(scope="session")
    def statesync_app() -> str:
        return "app.py"                       # or set `statesync_app = app.py` in pytest's ini

    def test_it(statesync_server, statesync_token):
        token = statesync_token("alice")
        ...                                  # point your client / page at statesync_server.url
        wait_for_state(statesync_server, "todo", "groceries", token=token, value="active")

With Playwright installed, `statesync_page` is a Chromium page at the server's origin (Debian's
Chromium when there is one) and `wait_for_instance_state(page, "todo", "groceries",
value="active")` waits until the browser SDK in that page shows the instance so.

Virtual time: with `statesync_clock = manual` (ini option or fixture) the servers run on a
clock that moves only when the test says, `await statesync_server.advance(days=1)` (every
timer and effect retry due fires in due order at its exact time, and it returns once the
server has settled); `statesync_server_factory(clock="manual")` for one server.

`statesync_postgres` is a throwaway PostgreSQL server (the installed PostgreSQL's binaries)
whose `create_database(name)` gives a URL to serve from.

Only the standard library and pytest are imported here at module level (the server's own
dependencies and Playwright load when a server, token or page is made). `postgres.py` holds the
throwaway PostgreSQL and the test databases.

May import: `store` and the model (the package's top-level modules); the server itself runs
in a subprocess (`python -m statesync_server serve`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .postgres import PostgresServer, database_url, is_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

START_TIMEOUT = 60.0
"""Seconds a server may take to start (a generous cap for a loaded machine)."""
CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
"""Where Debian's Chromium is (the real binary first; the wrapper prints a shell warning)."""


def mint_token(secret: str, sub: str, *, ttl: int = 600, **claims: Any) -> str:
    """An HS256 token for `sub` like `statesync token` makes (aud and iss `statesync`)."""
    from ..auth import AuthConfig, Authenticator

    return Authenticator(AuthConfig(secret=secret)).mint(sub, claims, ttl)


def resolve_app(app: str | Path, root: Path) -> str:
    """`path/to/app.py[:attr]` with a relative path made absolute against `root` (a
    `package.module[:attr]` stays as it is)."""
    location, sep, attr = str(app).partition(":")
    path = root / location
    if location.endswith(".py") or path.exists():
        location = str(path.resolve())
    return location + sep + attr


class ServerProcess:
    """`python -m statesync_server serve APP` on 127.0.0.1 with a fresh secret, on `db`: a
    SQLite file path or a database URL (`postgresql://...`); `restart()` brings it back on
    the same port and database.

    Relative paths (`app`, `db`) are relative to `root` (default: the current directory;
    the pytest fixtures pass pytest's rootdir), which is also on the server's `PYTHONPATH`
    for a `package.module` app; the server itself runs in the database's folder.

    With `clock="manual"` the server runs on virtual time (`--clock manual`): timers and
    effect retries wait until the test calls `await server.advance(days=1)`."""

    def __init__(self, app: str | Path, db: Path | str, *args: str,
                 secret: str | None = None, clock: str = "system",
                 root: Path | None = None) -> None:
        self.root = (root or Path.cwd()).resolve()
        self.app, self.args = resolve_app(app, self.root), args
        self.clock = clock
        if not is_url(db):
            db = self.root / db
        self.database_url = database_url(db)
        self.db = db if is_url(db) else Path(db)
        """The SQLite file (a `Path`), or the URL of another database (a `str`)."""
        self.secret = secret or secrets.token_urlsafe(32)
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self.url = ""
        self.port = 0

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/v1/ws"

    def start(self) -> ServerProcess:
        """Start the server and wait until it accepts connections."""
        command = [sys.executable, "-m", "statesync_server", "serve", self.app,
                   "--host", "127.0.0.1", "--port", str(self.port),
                   "--database-url", self.database_url, "--clock", self.clock, *self.args]
        path = os.pathsep.join(filter(None, (str(self.root), os.environ.get("PYTHONPATH"))))
        env = {**os.environ, "STATESYNC_SECRET": self.secret, "PYTHONPATH": path}
        return self._launch(command, env, self.db.parent if isinstance(self.db, Path) else None)

    def _launch(self, command: list[str], env: dict[str, str],
                cwd: Path | None) -> ServerProcess:
        """Run `command`, a server, and wait until it accepts connections (its URL is read
        from its log)."""
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env=env, cwd=cwd)
        ready = threading.Event()

        def pump(stream: Any) -> None:
            for line in stream:
                self.lines.append(line)
                found = re.search(r"statesync serving (http://\S+)", line)
                if found:
                    self.url = found.group(1)
                    self.port = int(self.url.rsplit(":", 1)[1])
                if "Application startup complete" in line:
                    ready.set()
            ready.set()  # the process ended

        threading.Thread(target=pump, args=(self.proc.stderr,), daemon=True).start()
        if not ready.wait(START_TIMEOUT) or self.proc.poll() is not None or not self.url:
            self.kill()
            raise RuntimeError("the statesync server did not start:\n" + self.log())
        return self

    def stop(self) -> None:
        """Graceful shutdown (Ctrl-C), killed after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        """Crash the server (SIGKILL): nothing gets to shut down cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self, *, crash: bool = True) -> ServerProcess:
        """Kill (or stop) the server and start it again on the same port and database."""
        if crash:
            self.kill()
        else:
            self.stop()
        return self.start()

    def mint(self, sub: str, *, ttl: int = 600, **claims: Any) -> str:
        """A token this server accepts."""
        return mint_token(self.secret, sub, ttl=ttl, **claims)

    def log(self) -> str:
        return "".join(self.lines)

    # --- virtual time (clock="manual") -------------------------------------------------------

    async def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0,
                      seconds: float = 0) -> float:
        """Skip virtual time: every timer and effect retry due within it fires, in due order
        at its exact due time, and this returns once the server has settled at the new time
        (no event, effect or message left to handle). The clock's new time (epoch seconds)."""
        return await asyncio.to_thread(self.advance_blocking, days=days, hours=hours,
                                       minutes=minutes, seconds=seconds)

    def advance_blocking(self, *, days: float = 0, hours: float = 0, minutes: float = 0,
                         seconds: float = 0) -> float:
        """`advance` for synchronous tests (Playwright's sync API)."""
        total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
        return self._clock_request({"seconds": total})["now"]

    def clock_time(self) -> float:
        """The server clock's time now (epoch seconds; virtual with `clock="manual"`)."""
        return self._clock_request(None)["now"]

    def _clock_request(self, body: dict[str, Any] | None) -> dict[str, Any]:
        from ..auth import ADMIN_CLAIM

        token = self.mint("statesync-test-clock", **{ADMIN_CLAIM: True})
        request = urllib.request.Request(
            f"{self.url}/v1/admin/clock", data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{request.method} {request.full_url}: {exc.code} "
                                 f"{exc.read().decode(errors='replace')}") from None


# --- reading state over HTTP -----------------------------------------------------------------


def _base(server: ServerProcess | str) -> str:
    return server.url if isinstance(server, ServerProcess) else server.rstrip("/")


def get_state(server: ServerProcess | str, machine: str, instance: str, *, token: str,
              timeout: float = 5.0) -> dict[str, Any] | None:
    """The public state of an instance (`GET /v1/instances/...`), None if it does not exist."""
    request = urllib.request.Request(f"{_base(server)}/v1/instances/{machine}/{instance}",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise AssertionError(f"GET {request.full_url}: {exc.code} {exc.read()!r}") from None


def _satisfied(state: dict[str, Any] | None, value: Any,
               where: Callable[[dict[str, Any]], bool] | None) -> bool:
    from statesync import matches_state

    if state is None:
        return False
    if value is not None and not matches_state(value, state["value"]):
        return False
    return where is None or bool(where(state))


def wait_for_state(server: ServerProcess | str, machine: str, instance: str, *, token: str,
                   value: Any = None, where: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = 5.0, interval: float = 0.02) -> dict[str, Any]:
    """Poll until the instance exists, matches state `value` (e.g. `"a.b"`) and `where(state)`
    holds; the state, or `AssertionError` after `timeout` seconds. For synchronous tests
    (Playwright's sync API)."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = get_state(server, machine, instance, token=token)
        if _satisfied(state, value, where):
            return state  # type: ignore[return-value]
        time.sleep(interval)
    raise AssertionError(f"{machine}/{instance} did not reach {value!r} in {timeout} s: {state}")


async def async_wait_for_state(server: ServerProcess | str, machine: str, instance: str, *,
                               token: str, value: Any = None,
                               where: Callable[[dict[str, Any]], bool] | None = None,
                               timeout: float = 5.0, interval: float = 0.02) -> dict[str, Any]:
    """`wait_for_state` for async tests (the event loop keeps running while it waits)."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = await asyncio.to_thread(get_state, server, machine, instance, token=token)
        if _satisfied(state, value, where):
            return state  # type: ignore[return-value]
        await asyncio.sleep(interval)
    raise AssertionError(f"{machine}/{instance} did not reach {value!r} in {timeout} s: {state}")


# --- a network you can cut ---------------------------------------------------------------------


class TcpProxy:
    """A loopback TCP proxy in a background thread, to simulate network failures.

    Point the client at `proxy.url`; `cut()` drops every open connection at once (both sides
    see a reset) and, while `down` is true, new connections are closed as soon as they open.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.down = False
        self.port = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._transports: set[asyncio.BaseTransport] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def cut(self, *, down: bool = False) -> None:
        """Reset every open connection; with `down`, keep refusing until `restore()`."""
        self.down = down
        self._call(self._abort_all())

    def restore(self) -> None:
        self.down = False

    def stop(self) -> None:
        if self._server is not None:
            self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(5)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._abort_all()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _abort_all(self) -> None:
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._transports.update((writer.transport, up_writer.transport))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._transports.difference_update((writer.transport, up_writer.transport))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


# --- a browser ----------------------------------------------------------------------------------


def find_chromium() -> str | None:
    """`$STATESYNC_CHROMIUM`, else Debian's Chromium, else None (Playwright's own browser)."""
    for path in (os.environ.get("STATESYNC_CHROMIUM"), *CHROMIUM_PATHS):
        if path and os.access(path, os.X_OK):
            return path
    return None


_WAIT_IN_PAGE = """async ({url, token, machine, instance, value, where, timeout}) => {
    const sdk = await import(url + "/statesync/sdk/statesync.js");
    const clients = (window.__statesyncTestClients ??= {});
    const key = url + " " + (token ?? "");
    const client = await (clients[key] ??= sdk.connect(token ? {url, token} : {url}));
    const deadline = Date.now() + timeout * 1000;
    let handle;
    while (!handle) {
        try {
            handle = await client.instance(machine, instance);
        } catch (error) {
            if (error.code !== "not-found" || Date.now() > deadline) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
    }
    const test = where ? (0, eval)(where) : () => true;
    return await new Promise((resolve, reject) => {
        let last, stop, done = false;
        const timer = setTimeout(() => {
            done = true;
            stop?.();
            reject(new Error(`${machine}/${instance} did not reach ${JSON.stringify(value)} in ` +
                             `${timeout} s: ${JSON.stringify(last)}`));
        }, Math.max(0, deadline - Date.now()));
        stop = handle.subscribe((state) => {
            last = state;
            if (done || (value !== null && !sdk.matchesState(value, state.value)) || !test(state))
                return;
            done = true;
            clearTimeout(timer);
            queueMicrotask(() => stop());
            resolve(state);
        });
        if (done) stop();
    });
}"""


def wait_for_instance_state(page: Page, machine: str, instance: str, *, value: Any = None,
                            where: str | None = None, token: str | None = None,
                            url: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the browser SDK in `page` shows the instance in state `value` (e.g. `"a.b"`)
    with `where` (a JS function source, `"(state) => state.context.items.length > 1"`) true;
    its state (`value`, `context`, `pending`, ...), or `AssertionError` after `timeout` s.

    It uses a client of its own in the page (one per token): `connect({url, token})`, with the
    page's anonymous session when `token` is None. `url`: the server (default: the page's
    origin)."""
    from playwright.sync_api import Error

    origin = url or page.evaluate("location.origin")
    arguments = {"url": origin.rstrip("/"), "token": token, "machine": machine,
                 "instance": instance, "value": value, "where": where, "timeout": timeout}
    try:
        return page.evaluate(_WAIT_IN_PAGE, arguments)
    except Error as error:
        raise AssertionError(error.message) from None


# --- the pytest plugin -------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("statesync_app", "the app (path/to/app.py[:attr]) the statesync fixtures serve")
    parser.addini("statesync_clock", "system (default) or manual: the servers' clock "
                  "(manual: virtual time, `await statesync_server.advance(days=1)`)")


@pytest.fixture(scope="session")
def statesync_app(pytestconfig: pytest.Config) -> str:
    """The app to serve: the `statesync_app` ini option (override this fixture to choose);
    a relative path is relative to pytest's rootdir."""
    app = pytestconfig.getini("statesync_app")
    if not app:
        pytest.fail("set `statesync_app` in pytest's ini options or override the fixture")
    return app


@pytest.fixture(scope="session")
def statesync_clock(pytestconfig: pytest.Config) -> str:
    """The servers' clock: the `statesync_clock` ini option, `system` when unset (override
    this fixture to choose). With `manual`, `await statesync_server.advance(days=1)` skips
    virtual time (docs/workflows.md, "Virtual time in tests")."""
    clock = pytestconfig.getini("statesync_clock") or "system"
    if clock not in ("system", "manual"):
        pytest.fail(f"statesync_clock must be system or manual, not {clock!r}")
    return clock


@pytest.fixture(scope="session")
def statesync_server(statesync_app: str, statesync_clock: str, pytestconfig: pytest.Config,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the test session, on a fresh SQLite database and `statesync_clock`."""
    server = ServerProcess(statesync_app, tmp_path_factory.mktemp("statesync") / "test.db",
                           clock=statesync_clock, root=pytestconfig.rootpath)
    yield server.start()
    server.stop()


@pytest.fixture
def statesync_server_factory(statesync_app: str, statesync_clock: str,
                             pytestconfig: pytest.Config,
                             tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start servers of your own (other apps, flags, clocks, restarts); stopped after the test.

    `start(*args, app=None, db=None, clock=None)`; each gets its own SQLite database unless
    `db` (a path or a database URL) is given, and `statesync_clock` unless `clock` is.
    Relative paths are relative to pytest's rootdir.
    """
    started: list[ServerProcess] = []

    def start(*args: str, app: str | None = None, db: Path | str | None = None,
              clock: str | None = None) -> ServerProcess:
        server = ServerProcess(app or statesync_app, db or tmp_path / f"db{len(started)}.db",
                               *args, clock=clock or statesync_clock,
                               root=pytestconfig.rootpath)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def statesync_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server of the installed PostgreSQL (ICU en-US collation) for the
    session; `statesync_postgres.create_database("name")` gives a fresh database's URL, to pass
    as `statesync_server_factory(db=url)`. Fails (does not skip) when PostgreSQL is missing."""
    try:
        server = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def statesync_token(statesync_server: ServerProcess) -> Callable[..., str]:
    """`statesync_token("alice", ttl=600, role="admin")`: a token the session server accepts."""
    return statesync_server.mint


@pytest.fixture
def statesync_proxy() -> Iterator[Callable[[ServerProcess], TcpProxy]]:
    """`proxy = statesync_proxy(server)`: a `TcpProxy` in front of a server (stopped after)."""
    proxies: list[TcpProxy] = []

    def make(server: ServerProcess) -> TcpProxy:
        proxies.append(TcpProxy(server.port).start())
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()


@pytest.fixture(scope="session")
def statesync_browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """Chromium (`find_chromium()`; Playwright's own when there is none), headless. With
    pytest-playwright, its `playwright` fixture drives it (one Playwright per session)."""
    pytest.importorskip("playwright.sync_api", reason="statesync_page needs playwright")
    from playwright.sync_api import sync_playwright

    own = None
    if request.config.pluginmanager.has_plugin("playwright"):  # pytest-playwright
        playwright = request.getfixturevalue("playwright")
    else:
        own = sync_playwright().start()
        playwright = own
    browser = playwright.chromium.launch(executable_path=find_chromium())
    yield browser
    browser.close()
    if own is not None:
        own.stop()


@pytest.fixture
def statesync_page_path() -> str:
    """Where `statesync_page` opens on the server (override it: e.g. `/app/`)."""
    return "/"


@pytest.fixture
def statesync_page(statesync_browser: Browser, statesync_server: ServerProcess,
                   statesync_page_path: str) -> Iterator[Page]:
    """A page of a fresh browser context at `statesync_server.url + statesync_page_path`, with
    a 60 s default timeout (Pyodide's cold start on a busy machine)."""
    context = statesync_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(statesync_server.url + statesync_page_path)
    yield page
    context.close()
