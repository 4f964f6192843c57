"""Browser transport under Pyodide: the page's `WebSocket` (`transport_browser`) and
`pyodide.http.pyfetch` (imported lazily)."""

from __future__ import annotations

from .transport_browser import BrowserTransport


class PyodideTransport(BrowserTransport):
    """Opens browser WebSockets; HTTP with `pyodide.http.pyfetch`."""

    async def _post(self, url: str, headers: dict[str, str]) -> tuple[bool, int, str]:
        from pyodide.http import pyfetch

        response = await pyfetch(url, method="POST", headers=headers)
        return response.ok, response.status, await response.string()
