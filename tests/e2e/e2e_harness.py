"""End-to-end harness: where things are, tokens, a TCP proxy that delays traffic and a hold
on the Pyodide runtime's files."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import jwt
from playwright.sync_api import Page, Route

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_APP = REPO / "examples" / "settings_page" / "app.py"
BOARD_APP = REPO / "tests" / "e2e" / "apps" / "board" / "app.py"
"""The task board: queries and live queries."""
SECRET = "e2e-secret-not-for-production-use-0123456789"
PAGES_HOST = "pages.test"
"""A name the test browser resolves to 127.0.0.1 (conftest.py): pages of another origin."""
CHROMIUM = Path("/usr/lib/chromium/chromium")  # Debian's; `playwright install` is never used
PYODIDE = REPO / "sdk_web" / "node_modules" / "pyodide"


def add_todo_script(close_client: bool) -> str:
    """A page script taking [token, text]: connect, open the user's todo list, add an item
    through the worker's Python client; it answers the runtime's info and the items (and
    closes the client first when `close_client`)."""
    close = "client.close();" if close_client else ""
    return """async ([token, text]) => {
    const { connect, loadRuntime } = await import("/statesync/sdk/statesync.js");
    const client = await connect({ token });
    const todo = await client.instance("todo", client.status.subject, { create: {} });
    await client.ready;
    await todo.send({ type: "ADD", text });
    const items = todo.state.context.items.map((i) => i.text);
    %s
    return { info: await loadRuntime(), items };
}""" % close


def token(sub: str, ttl: int = 600) -> str:
    """A token the e2e server accepts."""
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + ttl, "aud": "statesync", "iss": "statesync"}
    return jwt.encode(claims, SECRET, algorithm="HS256")


class DelayProxy:
    """A TCP proxy on a loopback port that can hold back traffic by `delay` seconds.

    Bytes keep their order; each chunk is forwarded `delay` seconds after it arrived (both
    directions). Runs its own event loop in a thread.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.delay = 0.0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DelayProxy:
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("proxy did not start")
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def drop(self) -> None:
        """Cut every connection open now (both ends), as a network outage would; new ones
        are accepted."""
        async def cut() -> None:
            for writer in list(self._open):
                writer.transport.abort()

        asyncio.run_coroutine_threadsafe(cut(), self._loop).result(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._open |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                                 return_exceptions=True)
        finally:
            self._open -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, chunk = await queue.get()
                if not chunk:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.ensure_future(forward())
        try:
            while chunk := await reader.read(65536):
                queue.put_nowait((time.monotonic() + self.delay, chunk))
        except OSError:
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(sender, return_exceptions=True)
            writer.close()


class HeldRuntime:
    """Holds back a page's requests for the Python runtime's files (Pyodide's or MicroPython's,
    whichever the worker boots) until `release()`: the SDK's runtime cannot boot meanwhile,
    everything else loads. Playwright sees no SharedWorker's requests, so the page is made to
    use a dedicated Worker (from its next load on: reload it)."""

    def __init__(self, page: Page) -> None:
        self.held: list[Route] = []
        self.released = False
        page.add_init_script("delete window.SharedWorker")
        page.route("**/statesync/pyodide-*/**", self._hold)
        page.route("**/statesync/micropython-*/**", self._hold)

    def _hold(self, route: Route) -> None:
        if self.released:
            route.continue_()
        else:
            self.held.append(route)

    def asked(self, page: Page, timeout: float = 10) -> bool:
        """Whether the page asked for the runtime's files within `timeout` seconds (the worker
        asks once it has the manifest)."""
        deadline = time.monotonic() + timeout
        while not self.held and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        return bool(self.held)

    def release(self) -> None:
        self.released = True
        for route in self.held:
            route.continue_()
        self.held.clear()
