"""Browser transport under MicroPython (statesync's light runtime): the page's `WebSocket`
(`BrowserSocket`, shared with Pyodide) and `fetch`, through MicroPython's `js` module
(imported lazily)."""

from __future__ import annotations

import json
from typing import Any

from .errors import ClientError, TransportClosed
from .transport_pyodide import BrowserSocket


class MicroPythonTransport:
    """Opens browser WebSockets; HTTP with the page's `fetch`."""

    def __init__(self, open_timeout: float = 5.0) -> None:
        self.open_timeout = open_timeout

    async def connect(self, url: str) -> BrowserSocket:
        socket = BrowserSocket(url)
        await socket.opened(self.open_timeout)
        return socket

    async def post_json(self, url: str, token: str | None = None) -> dict[str, Any]:
        import js
        from jsffi import to_js

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await js.fetch(url, to_js({"method": "POST", "headers": headers}))
            body = await response.text()
        except Exception as exc:  # a JsException: the network failed
            raise TransportClosed(f"POST {url} failed: {exc}") from exc
        if not response.ok:
            raise ClientError.from_http(response.status, body)
        return json.loads(body)
