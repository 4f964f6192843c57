"""uvicorn's WebSocket protocol (websockets, sans-I/O) writing its frames once per turn of the
event loop: the acks and updates a group commit sends one connection leave in one `send`
system call instead of one each (`serve` uses it: cli/main.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """`WebSocketsSansIOProtocol` on a transport whose writes are joined per loop turn."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        coalescing = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(coalescing)  # type: ignore[arg-type]


class CoalescingTransport:
    """Buffers the bytes written to `transport` until the event loop's next turn, then writes
    them at once, in order. Closing writes what is buffered first; aborting drops it. All
    else (flow control, addresses) is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
