"""The tiny interface the client needs from a network: a text WebSocket and one HTTP POST."""

from __future__ import annotations

import sys
from typing import Any, Protocol


class Socket(Protocol):
    """An open WebSocket carrying text frames."""

    async def send(self, text: str) -> None:
        """Send one frame; raise `TransportClosed` when the socket is gone."""

    async def recv(self) -> str:
        """The next frame; raise `TransportClosed` when the socket is gone."""

    async def close(self) -> None:
        """Close the socket (idempotent)."""


class Transport(Protocol):
    """Opens sockets and makes JSON HTTP requests (anonymous sessions)."""

    async def connect(self, url: str) -> Socket:
        """Open a WebSocket to `url`; raise `TransportClosed` on failure."""

    async def post_json(self, url: str, token: str | None = None) -> dict[str, Any]:
        """POST to `url` (with a bearer token if given); the JSON answer or a `ClientError`."""


def default_transport() -> Transport:
    """The browser's WebSocket under Pyodide or MicroPython, the `websockets` package on
    CPython."""
    if sys.implementation.name == "micropython":
        from .transport_micropython import MicroPythonTransport

        return MicroPythonTransport()
    if sys.platform == "emscripten":
        from .transport_pyodide import PyodideTransport

        return PyodideTransport()
    from .transport_websockets import WebsocketsTransport

    return WebsocketsTransport()
