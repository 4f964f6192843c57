"""CPython transport: the `websockets` package (imported only when a socket is opened)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from .errors import ClientError, TransportClosed


class WebsocketsSocket:
    """A `websockets` client connection behind the `Socket` interface."""

    def __init__(self, connection: Any, closed_errors: tuple[type[BaseException], ...]) -> None:
        self._connection = connection
        self._closed_errors = closed_errors

    async def send(self, text: str) -> None:
        try:
            await self._connection.send(text)
        except self._closed_errors as exc:
            raise TransportClosed(str(exc)) from exc

    async def recv(self) -> str:
        try:
            frame = await self._connection.recv()
        except self._closed_errors as exc:
            raise TransportClosed(str(exc)) from exc
        return frame if isinstance(frame, str) else frame.decode()

    async def close(self) -> None:
        await self._connection.close()


class WebsocketsTransport:
    """Opens sockets with `websockets`; HTTP with `urllib` in a worker thread."""

    def __init__(self, open_timeout: float = 5.0, http_timeout: float = 10.0) -> None:
        self.open_timeout = open_timeout
        self.http_timeout = http_timeout

    async def connect(self, url: str) -> WebsocketsSocket:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, WebSocketException

        errors = (ConnectionClosed, WebSocketException, OSError, TimeoutError)
        try:
            connection = await connect(url, open_timeout=self.open_timeout, max_size=None,
                                       compression=None, close_timeout=2)
        except errors as exc:
            raise TransportClosed(f"cannot connect to {url}: {exc}") from exc
        return WebsocketsSocket(connection, (ConnectionClosed, OSError))

    async def post_json(self, url: str, token: str | None = None) -> dict[str, Any]:
        return await asyncio.to_thread(self._post, url, token)

    def _post(self, url: str, token: str | None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.http_timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ClientError.from_http(exc.code, exc.read()) from None
        except OSError as exc:
            raise TransportClosed(f"POST {url} failed: {exc}") from exc

