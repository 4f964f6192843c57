"""Browser transport under MicroPython (statesync's light runtime): the page's `WebSocket`
(`transport_browser`, shared with Pyodide) and `fetch`, through MicroPython's `js` module
(imported lazily)."""

from __future__ import annotations

from .transport_browser import BrowserTransport


class MicroPythonTransport(BrowserTransport):
    """Opens browser WebSockets; HTTP with the page's `fetch`."""

    async def _post(self, url: str, headers: dict[str, str]) -> tuple[bool, int, str]:
        import js
        from jsffi import to_js

        response = await js.fetch(url, to_js({"method": "POST", "headers": headers}))
        return response.ok, response.status, await response.text()
