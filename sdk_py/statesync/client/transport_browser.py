"""What the browser transports share (Pyodide's, `transport_pyodide`, and MicroPython's,
`transport_micropython`): the page's `WebSocket` through the runtime's `js` module
(`BrowserSocket`), and HTTP whose one call, the runtime's `fetch`, each supplies
(`BrowserTransport._post`)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .errors import ClientError, TransportClosed

_OPEN = 1  # WebSocket.OPEN


def _create_proxy(callback: Any) -> Any:
    """A JavaScript function calling `callback`, from Pyodide's or MicroPython's FFI."""
    try:
        from pyodide.ffi import create_proxy
    except ImportError:  # MicroPython (statesync's light runtime)
        from jsffi import create_proxy
    return create_proxy(callback)


class BrowserSocket:
    """A browser `WebSocket` whose callbacks feed an asyncio queue."""

    def __init__(self, url: str) -> None:
        from js import WebSocket

        loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] = loop.create_future()
        self._frames: asyncio.Queue[str | None] = asyncio.Queue()
        self._ws = WebSocket.new(url)
        self._proxies = [_create_proxy(callback)
                         for callback in (self._on_open, self._on_message, self._on_close)]
        self._ws.onopen, self._ws.onmessage, self._ws.onclose = self._proxies

    def _on_open(self, _event: Any) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_message(self, event: Any) -> None:
        self._frames.put_nowait(str(event.data))

    def _on_close(self, event: Any) -> None:
        if not self._opened.done():
            self._opened.set_exception(TransportClosed(f"WebSocket closed ({event.code})"))
        self._frames.put_nowait(None)
        self._release()

    def _release(self) -> None:
        if self._proxies:
            self._ws.onopen = self._ws.onmessage = self._ws.onclose = None
            for proxy in self._proxies:
                if hasattr(proxy, "destroy"):  # MicroPython's proxies are freed with the object
                    proxy.destroy()
            self._proxies = []

    async def opened(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._opened, timeout)
        except TimeoutError:
            await self.close()
            raise TransportClosed("timed out opening the WebSocket") from None

    async def send(self, text: str) -> None:
        if self._ws.readyState != _OPEN:
            raise TransportClosed("the WebSocket is not open")
        self._ws.send(text)

    async def recv(self) -> str:
        frame = await self._frames.get()
        if frame is None:
            self._frames.put_nowait(None)  # every later recv() fails too
            raise TransportClosed("the WebSocket closed")
        return frame

    async def close(self) -> None:
        self._ws.close()
        self._frames.put_nowait(None)
        self._release()


class BrowserTransport:
    """Opens browser WebSockets; HTTP with the runtime's `fetch` (`_post`, per runtime)."""

    def __init__(self, open_timeout: float = 5.0) -> None:
        self.open_timeout = open_timeout

    async def connect(self, url: str) -> BrowserSocket:
        socket = BrowserSocket(url)
        await socket.opened(self.open_timeout)
        return socket

    async def post_json(self, url: str, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            ok, status, body = await self._post(url, headers)
        except Exception as exc:  # a JsException: the network failed
            raise TransportClosed(f"POST {url} failed: {exc}") from exc
        if not ok:
            raise ClientError.from_http(status, body)
        return json.loads(body)

    async def _post(self, url: str, headers: dict[str, str]) -> tuple[bool, int, str]:
        """POST to `url` with `headers`: whether it succeeded, the HTTP status, the body."""
        raise NotImplementedError
